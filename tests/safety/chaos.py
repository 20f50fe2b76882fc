"""The whole-stack chaos run's parts: the processes it may kill, the workload steps it runs
meanwhile, and the money invariants it checks once everything is back.

A workload step is `async def step(world) -> str` (the outcome it counts) registered in `STEPS`
with a weight; a step for the next piece of the platform (deposit reconciliation, ops approvals,
big wins on the ledger) is one more function and one more line there, and its invariant one more
check in `violations`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path

import asyncpg
import httpx

from betfuz_testing.anvil import find_anvil
from betfuz_testing.private_postgres import PrivatePostgres
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import new_user
from ledger.bet_encoding import bet_hash
from ledger.chain import connect
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
    wait_until,
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
    ledger: LedgerPart | None = None

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
LEDGER_STEPS: dict[str, tuple[int, Step]] = {
    "big_win": (1, lambda world: big_win(world)),
    "ledger_reads": (1, lambda world: ledger_reads(world)),
}


async def workload(world: World, until: float, workers: int) -> None:
    steps = {**STEPS, **(LEDGER_STEPS if world.ledger is not None else {})}
    names = list(steps)
    weights = [steps[n][0] for n in names]

    async def worker() -> None:
        while time.monotonic() < until:
            name = world.rng.choices(names, weights)[0]
            outcome = await steps[name][1](world)
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


# --- the ledger and its chain ----------------------------------------------------------------

BIG_WIN = Decimal("2500000.00")  # over the ledger's 1,000,000 threshold


class AnvilNode:
    """anvil on a fixed port whose chain outlives a restart (`--state`: loaded at start, dumped
    at exit). A real node that restarts keeps its chain; anvil keeps it in memory, so its
    "kill" is a SIGTERM that lets it write the chain down (a SIGKILLed anvil would be a chain
    that forgets blocks, which no network does)."""

    def __init__(self, root: Path, port: int) -> None:
        self.state = root / "anvil-state.json"
        self.port = port
        self.rpc_url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(find_anvil()),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--silent",
            "--state",
            str(self.state),
            "--preserve-historical-states",
        ]
        self.process = subprocess.Popen(  # noqa: S603 - the locked anvil binary, our arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while not _answers_rpc(self.rpc_url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"anvil did not come back on {self.rpc_url}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


def _answers_rpc(url: str) -> bool:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    try:
        return httpx.post(url, json=body, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def anvil_victim(node: AnvilNode) -> Victim:
    return Victim("anvil", node.stop, node.start)


def deploy_contract(env: Mapping[str, str]) -> dict[str, str]:
    """`python -m ledger deploy`: the contract's address and chain, as env lines."""
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "deploy", "--wait", "10"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


@dataclass
class LedgerPart:
    database_url: str
    chain_env: dict[str, str]
    http: httpx.AsyncClient
    big_wins: list[str] = field(default_factory=list)


async def big_win(world: World) -> str:
    """The core platform settles a winning slip over the threshold (a row in public.bet_slips);
    the ledger's worker must record it on chain, once."""
    assert world.ledger is not None
    slip = f"bet_chaos_{uuid.uuid4().hex[:16]}"
    try:
        conn = await asyncpg.connect(world.ledger.database_url, timeout=2)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return "database_down"
    try:
        await conn.execute(
            """INSERT INTO public.bet_slips (id, user_id, status, potential_win, settled_at)
               VALUES ($1, $2, 'won', $3, now())""",
            slip,
            world.rng.choice(world.pool_users),
            BIG_WIN,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return type(exc).__name__  # the insert may or may not have committed: look afterwards
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
    world.ledger.big_wins.append(slip)
    return "inserted"


async def ledger_reads(world: World) -> str:
    """Compliance reads the ledger while it works."""
    assert world.ledger is not None
    http = world.ledger.http
    answer = await world.send(
        "entries", lambda: http.get("/ledger/entries", params={"limit": "20"})
    )
    return str(answer.status or answer.error)


async def big_wins_recorded(world: World, pool: asyncpg.Pool, within: float) -> int:
    """Big wins whose entry is not confirmed yet, once the worker has had `within` s."""
    assert world.ledger is not None

    async def unconfirmed() -> int:
        value: int = await pool.fetchval(
            "SELECT count(*) FROM public.bet_slips s LEFT JOIN ledger.ledger_entries e "
            "ON e.bet_slip_id = s.id WHERE s.id LIKE 'bet_chaos_%' "
            "AND (e.status IS DISTINCT FROM 'confirmed')"
        )
        return value

    async def none_left() -> bool:
        return await unconfirmed() == 0

    await wait_until(none_left, within, every=0.5)
    return await unconfirmed()


async def ledger_violations(world: World, pool: asyncpg.Pool) -> dict[str, int]:
    """Every big win the platform settled is one confirmed entry and one record on chain."""
    assert world.ledger is not None
    slips = [
        row["id"]
        for row in await pool.fetch("SELECT id FROM public.bet_slips WHERE id LIKE 'bet_chaos_%'")
    ]
    entries = {
        row["bet_slip_id"]: row["status"]
        for row in await pool.fetch(
            "SELECT bet_slip_id, status FROM ledger.ledger_entries WHERE bet_slip_id = ANY($1)",
            slips,
        )
    }
    found: Counter[str] = Counter(dict.fromkeys(LEDGER_INVARIANTS, 0))
    env = world.ledger.chain_env
    async with connect(
        env["POLYGON_RPC_URL"],
        env["LEDGER_PRIVATE_KEY"],
        env["LEDGER_CONTRACT_ADDRESS"],
        use_finalized_tag=False,
        confirmations=1,
    ) as chain:
        for slip in slips:
            if entries.get(slip) != "confirmed":
                found["big_win_not_confirmed"] += 1
            if await chain.get_bet_record(bet_hash(slip)) is None:
                found["big_win_not_on_chain"] += 1
        on_chain = (await chain.get_stats()).total_bets
    # The contract refuses a second record of a bet: more records than slips is a win twice.
    found["chain_records_not_one_per_big_win"] = abs(on_chain - len(slips))
    return dict(sorted(found.items()))


LEDGER_INVARIANTS = (
    "big_win_not_confirmed",
    "big_win_not_on_chain",
    "chain_records_not_one_per_big_win",
)
