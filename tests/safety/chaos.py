"""The whole-stack chaos run's parts: the processes it may kill, the workload steps it runs
meanwhile, and the money invariants it checks once everything is back.

A workload step is `async def step(world) -> str` (the outcome it counts) registered in `STEPS`
with a weight; a step for the next piece of the platform (deposit reconciliation, ops approvals,
big wins on the ledger) is one more function and one more line there, and its invariant one more
check in `violations`.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial

import asyncpg
import httpx

from betfuz_testing.private_postgres import PrivatePostgres
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import new_user
from sandboxes.selcom.behaviours import behaviour_for
from tests.safety.faults import (
    DEPENDENCY_DOWN_CODES,
    Answer,
    Deposit,
    Purchase,
    answer_of,
    badly_refused,
    new_deposit,
    new_purchase,
    selcom_result,
)
from tests.safety.support import (
    ServiceProcess,
    account_body,
    account_drift,
    applied_twice,
    ledger_of,
    money_lost,
)

# Every Selcom behaviour: success, refusal, in progress then a webhook, ambiguous, a timeout,
# lost once, a lagging query.
PHONES = [f"080300000{n:02d}" for n in range(1, 12)]
INITIAL = Decimal(1_000_000)

# --- what may be killed ----------------------------------------------------------------------


@dataclass
class Victim:
    """One thing the chaos loop may take down and bring back."""

    name: str
    down: Callable[[], None]
    up: Callable[[], None]


def process_victim(process: ServiceProcess, name: str) -> Victim:
    def down() -> None:
        assert process.process is not None
        process.process.send_signal(signal.SIGKILL)
        process.process.wait()

    return Victim(name, down, process.start)


def postgres_victim(server: PrivatePostgres) -> Victim:
    return Victim("postgres", lambda: server.stop("immediate"), server.start)


@dataclass
class ChaosRecord:
    kills: Counter[str] = field(default_factory=Counter)
    restarts: Counter[str] = field(default_factory=Counter)
    downtime_s: float = 0.0


async def chaos_loop(
    victims: list[Victim], until: float, rng: random.Random, record: ChaosRecord
) -> None:
    """Until the monotonic clock reads `until`: wait 1-4 s, take one victim down for 0.3-2 s,
    bring it back (healthy again before the next one goes)."""
    while time.monotonic() + 1 < until:
        await asyncio.sleep(rng.uniform(0.5, 2.5))
        victim = rng.choice(victims)
        await asyncio.to_thread(victim.down)
        record.kills[victim.name] += 1
        gone = rng.uniform(0.3, 2)
        await asyncio.sleep(gone)
        record.downtime_s += gone
        await asyncio.to_thread(victim.up)
        record.restarts[victim.name] += 1


# --- the workload ----------------------------------------------------------------------------


@dataclass
class World:
    """What the workload made, so the end can check all of it."""

    topup: httpx.AsyncClient
    treasury: httpx.AsyncClient
    pool_users: list[str]
    rng: random.Random
    accounts: dict[str, str] = field(default_factory=dict)  # account number -> user
    purchases: list[Purchase] = field(default_factory=list)
    references: dict[str, str] = field(default_factory=dict)  # topup reference -> phone
    deposits: list[Deposit] = field(default_factory=list)  # every deposit "the bank" made
    undelivered: list[Deposit] = field(default_factory=list)  # dropped: only the end sends them
    answers: list[Answer] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)

    async def send(self, item: object, call: Callable[[], Awaitable[httpx.Response]]) -> Answer:
        """`call()`, its answer kept with `item` (what it was about) for the checks."""
        answer = await answer_of(item, lambda _: call())
        self.answers.append(answer)
        return answer


Step = Callable[[World], Awaitable[str]]


async def purchase(world: World) -> str:
    p = new_purchase(world.rng.choice(world.pool_users), world.rng.choice(PHONES))
    world.purchases.append(p)
    answer = await world.send(p, partial(p.send, world.topup))
    if answer.status == 201 and answer.body is not None:
        world.references[answer.body["reference"]] = p.phone
    return str(answer.status or answer.error)


async def double_submit(world: World) -> str:
    """The same purchase twice at once, as a client retrying on a slow answer."""
    p = new_purchase(world.rng.choice(world.pool_users), world.rng.choice(PHONES))
    world.purchases.append(p)
    both = await asyncio.gather(*(world.send(p, partial(p.send, world.topup)) for _ in range(2)))
    for answer in both:
        if answer.status == 201 and answer.body is not None:
            world.references[answer.body["reference"]] = p.phone
    return "+".join(sorted(str(a.status or a.error) for a in both))


async def selcom_webhooks(world: World) -> str:
    """Selcom's final word for a known topup, twice, then a stale in-progress one after it."""
    if not world.references:
        return "none_yet"
    reference = world.rng.choice(list(world.references))
    final = behaviour_for(world.references[reference]).final

    async def post(status: str) -> Answer:
        body, headers = selcom_result(reference, status)
        return await world.send(
            reference,
            lambda: world.topup.post("/topup/webhook", content=body, headers=headers),
        )

    await post(final)
    await post(final)
    stale = await post("INPROGRESS")
    return str(stale.status or stale.error)


async def deposits(world: World) -> str:
    """A batch of deposits delivered out of order, each twice; one in five is dropped (Wema's
    webhook never arrives: only the redelivery at the end brings it)."""
    if not world.accounts:
        return "no_account_yet"
    batch = [
        new_deposit(world.rng.choice(list(world.accounts)), world.rng.randint(100, 500_000))
        for _ in range(world.rng.randint(2, 5))
    ]
    world.deposits.extend(batch)
    delivered = []
    for d in batch:
        if world.rng.random() < 0.2:
            world.undelivered.append(d)
        else:
            delivered.append(d)
    order = list(reversed(delivered)) * 2
    answers = await asyncio.gather(*(world.send(d, partial(d.send, world.treasury)) for d in order))
    return ",".join(sorted({str(a.status or a.error) for a in answers})) or "all_dropped"


async def open_account(world: World) -> str:
    """A new customer opens a virtual account (the Wema sandbox is called)."""
    user = world.rng.choice(world.pool_users)
    if user in world.accounts.values():
        return "has_one"
    answer = await world.send(
        user,
        lambda: world.treasury.post(
            "/treasury/accounts", json=account_body(), headers=bearer(user)
        ),
    )
    if answer.status == 201 and answer.body is not None:
        world.accounts[answer.body["accountNumber"]] = user
    return str(answer.status or answer.error)


STEPS: dict[str, tuple[int, Step]] = {
    "purchase": (5, purchase),
    "double_submit": (2, double_submit),
    "selcom_webhooks": (2, selcom_webhooks),
    "deposits": (3, deposits),
    "open_account": (1, open_account),
}


async def workload(world: World, until: float, workers: int) -> None:
    names = list(STEPS)
    weights = [STEPS[n][0] for n in names]

    async def worker() -> None:
        while time.monotonic() < until:
            name = world.rng.choices(names, weights)[0]
            outcome = await STEPS[name][1](world)
            world.operations[name] += 1
            world.operations[f"{name}:{outcome}"] += 1
            await asyncio.sleep(0.01)

    await asyncio.gather(*(worker() for _ in range(workers)))


async def make_users(pool: asyncpg.Pool, count: int) -> list[str]:
    return [await new_user(pool, INITIAL) for _ in range(count)]


# --- after recovery ------------------------------------------------------------------------

INVARIANTS = (
    "balance_not_explained_by_its_rows",  # balance = initial + deposits - topups + refunds
    "applied_twice",  # a webhook, deposit, reference or refund that moved money twice
    "account_balance_drift",  # a bank account's balance is not the sum of its credits
    "deposit_not_credited_exactly_once",
    "deposit_credited_wrongly",  # to another account, or another amount
    "topup_left_pending",
    "topup_settled_against_selcom",  # completed where Selcom failed it, or the reverse
    "server_errors",  # a 5xx that is not a dependency failure said as documented
)


async def settle_everything(world: World) -> dict[str, Counter[str]]:
    """What clients and the bank do once things work again: a purchase without a definitive
    answer is sent again with its key; Wema redelivers every deposit (the dropped ones too)."""
    answered = {
        (a.item.user, a.item.key)
        for a in world.answers
        if isinstance(a.item, Purchase) and a.status == 201
    }
    retries: Counter[str] = Counter()
    for p in world.purchases:
        if (p.user, p.key) not in answered:
            answer = await world.send(p, partial(p.send, world.topup))
            retries[str(answer.status or answer.error)] += 1
    redelivered: Counter[str] = Counter()
    for d in world.deposits:
        answer = await world.send(d, partial(d.send, world.treasury))
        outcome = (answer.body or {}).get("status") if answer.status == 200 else answer.status
        redelivered[str(outcome)] += 1
    return {"retries": retries, "redelivered": redelivered}


async def violations(world: World, pool: asyncpg.Pool) -> dict[str, int]:
    """Each money invariant, as the number of users, deposits or answers that break it."""
    users = world.pool_users
    found: Counter[str] = Counter(dict.fromkeys(INVARIANTS, 0))
    for user in users:
        if money_lost(INITIAL, await ledger_of(pool, user)) != 0:
            found["balance_not_explained_by_its_rows"] += 1
    found["applied_twice"] = await applied_twice(pool, users)
    found["account_balance_drift"] = int(await account_drift(pool, users) != 0)
    credited = {
        row["transaction_reference"]: (row["n"], row["amount"], row["account_number"])
        for row in await pool.fetch(
            "SELECT t.transaction_reference, count(*) AS n, sum(t.amount) AS amount, "
            "min(a.account_number) AS account_number FROM treasury.bank_transactions t "
            "JOIN treasury.bank_accounts a ON a.id = t.bank_account_id "
            "WHERE t.type = 'credit' GROUP BY t.transaction_reference"
        )
    }
    for d in world.deposits:
        got = credited.get(d.reference)
        if got is None or got[0] != 1:
            found["deposit_not_credited_exactly_once"] += 1
        elif got[1] != d.amount or got[2] != d.account_number:
            found["deposit_credited_wrongly"] += 1
    topups = await pool.fetch(
        "SELECT phone, status FROM topup.topup_transactions WHERE user_id = ANY($1)", users
    )
    for row in topups:
        final = behaviour_for(_national(row["phone"])).final
        if row["status"] == "pending":
            found["topup_left_pending"] += 1
        elif row["status"] != ("completed" if final == "SUCCESS" else "failed"):
            found["topup_settled_against_selcom"] += 1
    found["server_errors"] = len(badly_refused(world.answers, DEPENDENCY_DOWN_CODES))
    return {k: v for k, v in sorted(found.items())}


def _national(phone: str) -> str:
    """The stored phone (E.164 or national) in the sandbox's national form."""
    return "0" + phone[4:] if phone.startswith("+234") else phone
