"""Random interleavings of purchases, provider outcomes, webhooks, deposits and reconciliation
ticks against the real topup and treasury apps on PostgreSQL; conservation checked after EVERY
step.

The apps are the services' own `create_app` with their real lifespans, driven in-process over
ASGI. Selcom is a fake whose outcomes follow sandboxes/selcom/behaviours.py number for number
(success, definitive failure, in progress, ambiguous, timeout, lost request, lagging query) and
which decides in-progress orders only when the machine says so. Its query may lag for any order
the machine picks, and it answers a re-submitted transid the ways real gateways do (an error
code, an HTTP 4xx, an unreadable body: never the first result), the way chosen per tick. Wema
is the repository's sandbox app.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from prometheus_client import CollectorRegistry

from betfuz_common import jsonio
from betfuz_common.settings import load_settings
from betfuz_common.signatures import sign
from betfuz_testing.tokens import bearer
from betfuz_testing.wallets import new_user
from sandboxes.selcom.behaviours import behaviour_for
from sandboxes.wema.accounts import Bank
from sandboxes.wema.server import SandboxConfig
from sandboxes.wema.server import create_app as create_wema_sandbox
from services.treasury.tests.support import WEMA_KEY, WEMA_SECRET, days_ago, settings_env
from tests.safety import figures
from tests.safety.support import (
    DUPLICATE_ANSWERS,
    LoopThread,
    Services,
    account_drift,
    applied_twice,
    ledger_of,
    money_lost,
    open_account,
    selcom_webhook,
    services,
    wema_deposit,
)
from topup.reconcile import ReconcileConfig, reconcile_once
from treasury.config import TreasurySettings
from treasury.metrics import TreasuryMetrics
from treasury.reconcile import ReconcileConfig as WemaReconcileConfig
from treasury.reconcile import reconcile_once as reconcile_wema
from treasury.runtime import build_ports as build_recon_ports

PHONES = [f"080300000{n:02d}" for n in range(1, 12)]  # one per sandbox behaviour
AMOUNTS = [Decimal(v) for v in ("50", "100.50", "999.99", "5000", "20000", "50000")]
INITIAL = [Decimal(v) for v in ("0", "5000", "60000", "200000")]
DEPOSITS = [Decimal(v) for v in ("100", "2500.75", "50000")]
# Every pending topup is due at once; the machine's "time passes" step makes it so.
# Webhook statuses that are no verdict: noted, never settled on.
NOT_A_VERDICT = ["PENDING", "FAIL", "ERROR", "PROCESSING"]
TICK = ReconcileConfig(interval_seconds=0, after_seconds=0, sla_seconds=300)
# The SLA passes for every pending topup at once; nothing is old enough to be queried.
SLA_PASSES = ReconcileConfig(interval_seconds=0, after_seconds=86_400, sla_seconds=0)
FINAL = {"SUCCESS": "completed", "FAILED": "failed"}
SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,  # the same cases on every run and every machine: CI is reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class Wallet:
    user_id: str
    initial: Decimal
    account_number: str
    deposits: Decimal = Decimal(0)
    ops_credits: Decimal = Decimal(0)  # held deposits an ops credit_user gave this wallet


@dataclass
class Topup:
    user_id: str
    topup_id: str
    reference: str
    amount: Decimal
    truth: str  # what Selcom will eventually say: completed | failed
    signalled: bool  # the service has been told something definitive
    ops: str | None = None  # the status an ops action gave it against Selcom's word, if any


@dataclass
class OpsCase:
    """A held deposit's case, as the model knows it."""

    case_id: int
    reference: str
    amount: Decimal
    body: bytes  # the signed notice, to redeliver
    headers: dict[str, str]
    resolved: bool = False
    proposal: int | None = None  # the action id waiting for a second ops user
    action: str = ""
    beneficiary: int = 0  # the wallet a proposed credit_user names
    proposer: str = ""


def ops_token(name: str) -> dict[str, str]:
    return bearer(name, roles=("ops",))


class MoneyMachine(RuleBasedStateMachine):
    loop: ClassVar[LoopThread]
    svc: ClassVar[Services]
    stats: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.wallets: list[Wallet] = []
        self.topups: dict[str, Topup] = {}  # by reference
        self.keys: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}  # → (body, id)
        self.deposit_refs: list[tuple[str, Decimal, str]] = []  # (account, amount, reference)
        self.ops_cases: list[OpsCase] = []  # treasury cases this example opened
        self.proposals: dict[int, tuple[str, str]] = {}  # ops action id → (reference, action)
        self.ops_refunded: set[str] = set()  # topup ids an ops action refunded

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro)

    # --- set-up ---------------------------------------------------------------------------

    @initialize(first=st.sampled_from(INITIAL), second=st.sampled_from(INITIAL))
    def open_wallets(self, first: Decimal, second: Decimal) -> None:
        async def go() -> None:
            # Earlier examples' topups are out of this one's ticks (the fake outlives examples).
            await self.svc.pool.execute(
                "UPDATE topup.topup_transactions SET next_check_at = now() + interval '1 day' "
                "WHERE status = 'pending'"
            )
            self.svc.selcom.lagging.clear()
            for initial in (first, second):
                user_id = await new_user(self.svc.pool, initial)
                number = await open_account(self.svc, user_id)
                self.wallets.append(Wallet(user_id, initial, number))

        self.run(go())
        self.stats["examples"] += 1

    # --- helpers --------------------------------------------------------------------------

    async def spendable(self, wallet: Wallet) -> Decimal:
        """What the model says the wallet holds: initial + deposits + ops credits − every topup
        not failed."""
        rows = await self.svc.pool.fetch(
            "SELECT reference, status FROM topup.topup_transactions WHERE user_id = $1",
            wallet.user_id,
        )
        held = sum(
            (self.topups[r["reference"]].amount for r in rows if r["status"] != "failed"),
            Decimal(0),
        )
        return wallet.initial + wallet.deposits + wallet.ops_credits - held

    async def failed(self, topup_id: str) -> bool:
        status = await self.svc.pool.fetchval(
            "SELECT status FROM topup.topup_transactions WHERE id = $1", topup_id
        )
        return bool(status == "failed")

    async def post_topup(
        self, wallet: Wallet, body: dict[str, Any], key: str | None
    ) -> httpx.Response:
        headers = {**bearer(wallet.user_id), "content-type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.svc.topup.post("/topup", content=jsonio.dumps(body), headers=headers)

    def remember(self, wallet: Wallet, phone: str, amount: Decimal, answer: dict[str, Any]) -> None:
        behaviour = behaviour_for(phone)
        definitive = not behaviour.timeout and behaviour.first_code in ("000", "051")
        definitive = definitive and not behaviour.lost_once
        topup = Topup(
            wallet.user_id,
            answer["transactionId"],
            answer["reference"],
            amount,
            FINAL[behaviour.final],
            signalled=definitive,
        )
        expected = topup.truth if definitive else "pending"
        assert answer["status"] == expected, (phone, answer)
        self.topups[topup.reference] = topup
        self.stats["purchases_applied"] += 1
        if behaviour.timeout:
            self.stats["faults_timeout"] += 1
        elif behaviour.lost_once:
            self.stats["faults_lost_request"] += 1
        elif behaviour.first_code in ("111", "927", "999"):
            self.stats["faults_in_progress_or_ambiguous"] += 1

    async def statuses(self) -> dict[str, str]:
        rows = await self.svc.pool.fetch(
            "SELECT reference, status FROM topup.topup_transactions WHERE user_id = ANY($1)",
            [w.user_id for w in self.wallets],
        )
        return {r["reference"]: r["status"] for r in rows}

    # --- purchases ------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        phone=st.sampled_from(PHONES),
        amount=st.sampled_from(AMOUNTS),
        explicit_key=st.booleans(),
    )
    def purchase(self, who: int, phone: str, amount: Decimal, explicit_key: bool) -> None:
        key = uuid.uuid4().hex if explicit_key else None
        self.run(self.buy(self.wallets[who], phone, amount, key))

    @precondition(lambda self: bool(self.keys))
    @rule(data=st.data())
    def purchase_again(self, data: st.DataObject) -> None:
        """The same purchase once more, with the key it had (or none): replayed, unless it had
        no key and failed, when it is made again at once."""
        user_id, name = data.draw(st.sampled_from(list(self.keys)))
        body, _ = self.keys[(user_id, name)]
        wallet = next(w for w in self.wallets if w.user_id == user_id)
        key = None if name.startswith("derived:") else name
        self.run(self.buy(wallet, body["phone"], body["amount"], key))

    def failed_without_key(self) -> list[tuple[str, str]]:
        failed = {t.topup_id for t in self.topups.values() if t.signalled and t.truth == "failed"}
        return [
            k
            for k, (_, topup_id) in self.keys.items()
            if k[1].startswith("derived:") and topup_id in failed
        ]

    @precondition(lambda self: bool(self.failed_without_key()))
    @rule(data=st.data())
    def purchase_again_after_failure(self, data: st.DataObject) -> None:
        """A purchase without a key that failed (at once, by webhook or by the query), made
        again: accepted at once as a new purchase (docs/DESIGN.md §6)."""
        user_id, name = data.draw(st.sampled_from(self.failed_without_key()))
        body, _ = self.keys[(user_id, name)]
        wallet = next(w for w in self.wallets if w.user_id == user_id)
        self.run(self.buy(wallet, body["phone"], body["amount"], None))

    async def buy(self, wallet: Wallet, phone: str, amount: Decimal, key: str | None) -> None:
        body = {"phone": phone, "carrier": "mtn", "amount": amount, "type": "airtime"}
        name = key or f"derived:{phone}:{amount}"
        known = self.keys.get((wallet.user_id, name))
        again = known is not None and key is None and await self.failed(known[1])
        if again:  # a failed purchase frees its derived key: it may be made again at once
            known = None
        before = await self.spendable(wallet)
        response = await self.post_topup(wallet, body, key)
        self.stats["purchases_sent"] += 1
        if again:
            assert "idempotent-replayed" not in response.headers, response.text
            self.stats["purchases_again_after_failure"] += 1
        if known is not None:  # the same purchase inside 24 h: the original answer
            assert response.status_code == 201, response.text
            assert response.headers.get("idempotent-replayed") == "true"
            assert response.json()["transactionId"] == known[1]
            self.stats["duplicates_purchase_replayed"] += 1
        elif before < amount:
            assert response.status_code == 402, response.text
            self.stats["purchases_insufficient_funds"] += 1
        else:
            assert response.status_code == 201, response.text
            self.keys[(wallet.user_id, name)] = (body, response.json()["transactionId"])
            self.remember(wallet, phone, amount, response.json())

    @precondition(lambda self: any(not name.startswith("derived:") for _, name in self.keys))
    @rule(data=st.data())
    def replay_key_with_another_body(self, data: st.DataObject) -> None:
        explicit = [k for k in self.keys if not k[1].startswith("derived:")]
        user_id, key = data.draw(st.sampled_from(explicit))
        body, _ = self.keys[(user_id, key)]
        changed = {**body, "amount": body["amount"] + 1}
        wallet = next(w for w in self.wallets if w.user_id == user_id)

        async def go() -> None:
            response = await self.post_topup(wallet, changed, key)
            assert response.status_code == 422, response.text  # docs/DESIGN.md §6
            self.stats["duplicates_key_reused_other_body"] += 1

        self.run(go())

    @rule(
        who=st.integers(0, 1),
        phone=st.sampled_from(PHONES),
        amount=st.sampled_from(AMOUNTS),
        copies=st.integers(2, 4),
    )
    def concurrent_double_submit(self, who: int, phone: str, amount: Decimal, copies: int) -> None:
        wallet = self.wallets[who]
        body = {"phone": phone, "carrier": "mtn", "amount": amount, "type": "airtime"}
        key = uuid.uuid4().hex

        async def go() -> None:
            before = await self.spendable(wallet)
            answers = await asyncio.gather(
                *(self.post_topup(wallet, body, key) for _ in range(copies))
            )
            self.stats["purchases_sent"] += copies
            self.stats["duplicates_concurrent_purchase"] += copies - 1
            codes = sorted(a.status_code for a in answers)
            if before < amount:
                assert set(codes) == {402}, codes
                return
            assert set(codes) <= {201, 409}, [a.text for a in answers]
            created = {a.json()["transactionId"] for a in answers if a.status_code == 201}
            assert len(created) == 1, codes
            first = next(a for a in answers if a.status_code == 201)
            self.keys[(wallet.user_id, key)] = (body, first.json()["transactionId"])
            self.remember(wallet, phone, amount, first.json())

        self.run(go())

    # --- Selcom ---------------------------------------------------------------------------

    # Every list a rule draws from is in the order the example made things, never sorted by
    # ids or references: those are random, and a replayed example must draw the same things.
    def undecided(self) -> list[str]:
        txns = self.svc.selcom.txns
        return [r for r in self.topups if r in txns and not txns[r].final]

    def decided(self) -> list[str]:
        """Decided by Selcom, and not overridden by ops (Selcom's word on those contradicts)."""
        txns = self.svc.selcom.txns
        return [r for r in self.topups if r in txns and txns[r].final and not self.topups[r].ops]

    @precondition(lambda self: bool(self.undecided()))
    @rule(data=st.data())
    def selcom_decides(self, data: st.DataObject) -> None:
        self.svc.selcom.finish(data.draw(st.sampled_from(self.undecided())))

    def query_keeps_up(self) -> list[str]:
        """Topups Selcom has, still open, whose query is not lagging yet."""
        selcom = self.svc.selcom
        return [
            r
            for r, t in self.topups.items()
            if r in selcom.txns and r not in selcom.lagging and not t.signalled
        ]

    @precondition(lambda self: bool(self.query_keeps_up()))
    @rule(data=st.data())
    def selcom_query_lags(self, data: st.DataObject) -> None:
        """Selcom has the order, but its query answers "not found" until it catches up: the
        service re-submits the same transid and is refused as a duplicate."""
        self.svc.selcom.lagging.add(data.draw(st.sampled_from(self.query_keeps_up())))
        self.stats["faults_query_lag"] += 1

    def lagging(self) -> list[str]:  # the fake outlives an example: only this one's topups
        return [r for r in self.topups if r in self.svc.selcom.lagging]

    @precondition(lambda self: bool(self.lagging()))
    @rule(data=st.data())
    def selcom_query_catches_up(self, data: st.DataObject) -> None:
        self.svc.selcom.lagging.discard(data.draw(st.sampled_from(self.lagging())))

    @precondition(lambda self: bool(self.decided()))
    @rule(
        data=st.data(),
        copies=st.integers(1, 3),
        stale=st.lists(st.sampled_from(NOT_A_VERDICT), max_size=2),
        concurrent=st.booleans(),
    )
    def selcom_webhooks(
        self, data: st.DataObject, copies: int, stale: list[str], concurrent: bool
    ) -> None:
        """The final webhook, maybe several times, mixed with stale or non-final ones (PENDING,
        Selcom's catch-all FAIL, ERROR), in any order."""
        reference = data.draw(st.sampled_from(self.decided()))
        topup = self.topups[reference]
        final = "SUCCESS" if topup.truth == "completed" else "FAILED"
        order = data.draw(st.permutations([final] * copies + stale))

        async def go() -> None:
            async def send(status: str) -> str:
                body, headers = selcom_webhook(reference, status)
                response = await self.svc.topup.post(
                    "/topup/webhook", content=body, headers=headers
                )
                assert response.status_code == 200, response.text
                outcome: str = response.json()["outcome"]
                return outcome

            if concurrent:
                outcomes = list(await asyncio.gather(*(send(s) for s in order)))
            else:
                outcomes = [await send(s) for s in order]
            allowed = {"applied", "duplicate", "noted"}
            assert set(outcomes) <= allowed, outcomes
            assert outcomes.count("applied") <= 1, outcomes
            if topup.signalled:
                assert "applied" not in outcomes, outcomes
            topup.signalled = True
            self.stats["webhooks_sent"] += len(order)
            self.stats["duplicates_webhook"] += copies - 1
            self.stats["faults_stale_or_out_of_order_webhook"] += len(stale)

        self.run(go())

    @precondition(lambda self: bool(self.topups))
    @rule(data=st.data())
    def contradicting_webhook(self, data: st.DataObject) -> None:
        """A webhook saying the opposite of what was settled moves no money."""

        current: dict[str, str] = self.run(self.statuses())
        settled = [r for r in self.topups if current.get(r, "pending") != "pending"]
        if not settled:
            return
        reference = data.draw(st.sampled_from(settled))
        opposite = "FAILED" if current[reference] == "completed" else "SUCCESS"

        async def go() -> None:
            body, headers = selcom_webhook(reference, opposite)
            response = await self.svc.topup.post("/topup/webhook", content=body, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["outcome"] == "contradicting"
            self.stats["faults_contradicting_webhook"] += 1

        self.run(go())

    @rule(to_wema=st.booleans(), amount=st.sampled_from(DEPOSITS))
    def stray_message(self, to_wema: bool, amount: Decimal) -> None:
        """A webhook for a topup we never made, or a deposit to an account we do not have:
        recorded for review, answered 200, nobody credited or debited."""

        async def go() -> None:
            if to_wema:
                reference = f"WEMA-{uuid.uuid4().hex[:20]}"
                body, headers = wema_deposit("0000000000", amount, reference)
                response = await self.svc.treasury.post(
                    "/treasury/webhook", content=body, headers=headers
                )
                assert response.status_code == 200, response.text
                assert response.json()["status"] == "held_for_review"
                self.stats["faults_unknown_account_deposit"] += 1
                return
            body, headers = selcom_webhook("TOP" + uuid.uuid4().hex[:16].upper(), "FAILED")
            response = await self.svc.topup.post("/topup/webhook", content=body, headers=headers)
            assert response.status_code == 200, response.text
            assert response.json()["outcome"] == "unknown_reference"
            self.stats["faults_unknown_reference_webhook"] += 1

        self.run(go())

    @rule(
        time_passes=st.booleans(),
        with_webhooks=st.integers(0, 2),
        duplicate=st.sampled_from(sorted(DUPLICATE_ANSWERS)),
    )
    def reconciliation_tick(self, time_passes: bool, with_webhooks: int, duplicate: str) -> None:
        """One tick; when time has passed every pending topup is due. Webhooks for decided
        topups may race the tick. A re-submit of a transid Selcom has (its query lags) is
        answered as `duplicate` says, and must leave the topup pending."""
        selcom = self.svc.selcom
        selcom.duplicate_answer = duplicate

        async def go() -> None:
            # Time is the machine's: when it passes every pending topup of ours is due, when it
            # does not none is. Never the wall clock, or a replayed example would differ.
            await self.svc.pool.execute(
                "UPDATE topup.topup_transactions SET next_check_at = now() "
                "+ make_interval(secs => $2) WHERE status = 'pending' AND user_id = ANY($1)",
                [w.user_id for w in self.wallets],
                0.0 if time_passes else 3600.0,
            )
            racing = self.decided()[:with_webhooks]
            sends = []
            for reference in racing:
                topup = self.topups[reference]
                body, headers = selcom_webhook(
                    reference, "SUCCESS" if topup.truth == "completed" else "FAILED"
                )
                sends.append(self.svc.topup.post("/topup/webhook", content=body, headers=headers))
            pending_before = {r for r, s in (await self.statuses()).items() if s == "pending"}
            lagging = {r for r in pending_before if selcom.lags(r)}
            duplicates_before = selcom.calls["process_duplicate_" + duplicate]
            report, answers = await asyncio.gather(
                reconcile_once(self.svc.topup_ports, TICK), asyncio.gather(*sends)
            )
            assert report.ran
            assert all(a.status_code == 200 for a in answers)
            for reference in racing:
                self.topups[reference].signalled = True
            after = await self.statuses()
            for reference in lagging - set(racing):
                # Queried, "not found", re-submitted, refused as a duplicate: still pending.
                assert after[reference] == "pending", (reference, duplicate, after[reference])
            if time_passes:
                for reference in pending_before - lagging:
                    txn = selcom.txns.get(reference)
                    if txn is None or txn.final:  # lost (re-submitted) or decided: settled now
                        self.topups[reference].signalled = True
            self.stats["duplicates_resubmit_refused"] += (
                selcom.calls["process_duplicate_" + duplicate] - duplicates_before
            )
            self.stats["reconcile_ticks"] += 1
            self.stats["reconcile_resubmits"] += report.resubmitted
            self.stats["webhooks_sent"] += len(racing)

        self.run(go())

    # --- VTpass: glo airtime goes to VTpass first, Selcom behind it (support.VTPASS_ROUTES) -

    @rule(
        who=st.integers(0, 1),
        amount=st.sampled_from(AMOUNTS),
        answer=st.sampled_from(["delivered", "failed", "not_processed", "processing", "timeout"]),
        truth=st.sampled_from(["completed", "failed"]),
    )
    def purchase_through_vtpass(self, who: int, amount: Decimal, answer: str, truth: str) -> None:
        """VTpass delivers, fails, is still processing, times out (the requery then tells
        `truth`), or does not take the order (091): then, and only then, Selcom gets it (and
        delivers: the number is none of its sandbox's behaviours)."""
        wallet = self.wallets[who]
        phone = "0805" + str(uuid.uuid4().int)[:7]
        self.svc.vtpass.answers[phone] = (answer, truth)
        failed_over = answer == "not_processed"
        definitive = answer in ("delivered", "failed", "not_processed")
        real = "completed" if failed_over else truth

        async def go() -> None:
            before = await self.spendable(wallet)
            body = {"phone": phone, "carrier": "glo", "amount": amount, "type": "airtime"}
            response = await self.post_topup(wallet, body, None)
            self.stats["purchases_sent"] += 1
            if before < amount:
                assert response.status_code == 402, response.text
                self.stats["purchases_insufficient_funds"] += 1
                return
            assert response.status_code == 201, response.text
            got = response.json()
            assert got["status"] == (real if definitive else "pending"), (answer, got)
            provider = await self.svc.pool.fetchval(
                "SELECT provider FROM topup.topup_transactions WHERE id = $1", got["transactionId"]
            )
            assert provider == ("selcom" if failed_over else "vtpass"), (answer, provider)
            topup = Topup(
                wallet.user_id, got["transactionId"], got["reference"], amount, real, definitive
            )
            self.topups[topup.reference] = topup
            self.stats["purchases_applied"] += 1
            self.stats["vtpass_purchases"] += 1
            self.stats["vtpass_failovers_to_selcom"] += failed_over

        self.run(go())

    # --- deposits -------------------------------------------------------------------------

    @rule(
        who=st.integers(0, 1),
        amounts=st.lists(st.sampled_from(DEPOSITS), min_size=1, max_size=3),
        copies=st.integers(1, 3),
    )
    def deposits(self, who: int, amounts: list[Decimal], copies: int) -> None:
        """New deposits, each delivered `copies` times, all at once (order is the scheduler's)."""
        wallet = self.wallets[who]
        fresh = [(a, f"WEMA-{uuid.uuid4().hex[:20].upper()}") for a in amounts]

        async def go() -> None:
            sends = []
            for amount, reference in fresh * copies:
                body, headers = wema_deposit(wallet.account_number, amount, reference)
                sends.append(
                    self.svc.treasury.post("/treasury/webhook", content=body, headers=headers)
                )
            answers = await asyncio.gather(*sends)
            assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
            by_reference = Counter(
                (a.json()["transactionReference"], a.json()["status"]) for a in answers
            )
            for amount, reference in fresh:
                assert by_reference[(reference, "credited")] == 1, by_reference
                assert by_reference[(reference, "duplicate")] == copies - 1, by_reference
                wallet.deposits += amount
                self.deposit_refs.append((wallet.account_number, amount, reference))
            self.stats["deposits_sent"] += len(sends)
            self.stats["deposits_credited"] += len(fresh)
            self.stats["duplicates_deposit"] += len(fresh) * (copies - 1)

        self.run(go())

    @precondition(lambda self: bool(self.deposit_refs))
    @rule(data=st.data())
    def deposit_redelivered_later(self, data: st.DataObject) -> None:
        account, amount, reference = data.draw(st.sampled_from(self.deposit_refs))

        async def go() -> None:
            body, headers = wema_deposit(account, amount, reference)
            response = await self.svc.treasury.post(
                "/treasury/webhook", content=body, headers=headers
            )
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "duplicate"
            self.stats["deposits_sent"] += 1
            self.stats["duplicates_deposit"] += 1

        self.run(go())

    @precondition(lambda self: bool(self.deposit_refs))
    @rule(data=st.data(), amount=st.sampled_from(DEPOSITS))
    def deposit_reference_reused(self, data: st.DataObject, amount: Decimal) -> None:
        """A credited reference again with another amount: a review item, and no money moves
        (the invariants below check that nothing changed)."""
        account, credited, reference = data.draw(st.sampled_from(self.deposit_refs))
        if amount == credited:
            amount += Decimal("0.01")

        async def go() -> None:
            body, headers = wema_deposit(account, amount, reference)
            response = await self.svc.treasury.post(
                "/treasury/webhook", content=body, headers=headers
            )
            assert response.status_code == 200, response.text
            # The first time this variant is seen it is held; the same variant again is a
            # redelivery of it.
            assert response.json()["status"] in ("held_for_review", "duplicate")
            self.stats["deposits_sent"] += 1
            self.stats["faults_reused_deposit_reference"] += 1

        self.run(go())

    # --- deposits Wema never notified, and reconciliation with its listing -----------------
    # Each example has a Wema bank of its own (its listing holds only this example's deposits);
    # a tick reads it through the real client and applies each item through the webhook's path.

    def recon_bank(self) -> Bank:
        bank: Bank | None = getattr(self, "_recon_bank", None)
        if bank is None:
            bank = self._recon_bank = Bank()
            self.unnotified: dict[str, tuple[Wallet, Decimal]] = {}  # made, not yet credited
        return bank

    async def wema_tick(self, transport: httpx.AsyncBaseTransport | None = None) -> Any:
        config = SandboxConfig(WEMA_KEY, [WEMA_SECRET.encode()], "http://unused.test", page_size=2)
        wire = transport or httpx.ASGITransport(app=create_wema_sandbox(config, self.recon_bank()))
        async with httpx.AsyncClient(transport=wire, base_url="http://wema.test") as http:
            ports = build_recon_ports(RECON_SETTINGS, self.svc.pool, http)
            return await reconcile_wema(ports, RECON, TreasuryMetrics(CollectorRegistry()))

    def credited_now(self, reference: str) -> None:
        """The model: the deposit moved from made-at-the-bank to credited (exactly once)."""
        wallet, amount = self.unnotified.pop(reference)
        wallet.deposits += amount
        self.deposit_refs.append((wallet.account_number, amount, reference))

    @rule(
        who=st.integers(0, 1), amounts=st.lists(st.sampled_from(DEPOSITS), min_size=1, max_size=3)
    )
    def deposit_webhook_dropped(self, who: int, amounts: list[Decimal]) -> None:
        """Wema makes the deposits and its webhooks never arrive: no money moves yet."""
        wallet, bank = self.wallets[who], self.recon_bank()
        for amount in amounts:
            reference = f"WEMA-{uuid.uuid4().hex[:20].upper()}"
            bank.deposits.append(listed_deposit(wallet.account_number, amount, reference))
            self.unnotified[reference] = (wallet, amount)
        self.stats["faults_webhook_dropped"] += len(amounts)

    @precondition(
        lambda self: bool(getattr(self, "_recon_bank", None) and self._recon_bank.deposits)
    )
    @rule(data=st.data())
    def late_webhook_of_a_listed_deposit(self, data: st.DataObject) -> None:
        """A dropped webhook arrives after all: credited if no tick got there first, else a
        duplicate."""
        payload = data.draw(st.sampled_from(self.recon_bank().deposits))
        reference = payload["transaction_reference"]

        async def go() -> None:
            body, headers = signed_wema(payload)
            answer = await self.svc.treasury.post(
                "/treasury/webhook", content=body, headers=headers
            )
            assert answer.status_code == 200, answer.text
            expected = "credited" if reference in self.unnotified else "duplicate"
            assert answer.json()["status"] == expected, (answer.json(), expected)
            if expected == "credited":
                self.credited_now(reference)
            else:
                self.stats["duplicates_late_webhook"] += 1

        self.run(go())

    @rule(replicas=st.integers(1, 3), racing_webhooks=st.integers(0, 2))
    def wema_reconciliation_tick(self, replicas: int, racing_webhooks: int) -> None:
        """Ticks on several replicas at once, racing late webhooks of the deposits they list:
        every deposit never notified is credited exactly once, by one of them."""
        bank = self.recon_bank()
        racing = [p for p in bank.deposits if p["transaction_reference"] in self.unnotified]
        racing = racing[:racing_webhooks]

        async def go() -> None:
            webhooks = []
            for payload in racing:
                body, headers = signed_wema(payload)
                webhooks.append(
                    self.svc.treasury.post("/treasury/webhook", content=body, headers=headers)
                )
            ticks = [self.wema_tick() for _ in range(replicas)]
            results = await asyncio.gather(*ticks, *webhooks)
            reports, answers = results[:replicas], results[replicas:]
            # The first replica to ask takes the lock; the others wait for no one (they skip).
            assert any(r.ran and not r.failed for r in reports), reports
            by_webhook = sum(a.json()["status"] == "credited" for a in answers)
            by_ticks = sum(r.credited for r in reports)
            assert by_ticks + by_webhook == len(self.unnotified), (by_ticks, by_webhook)
            for reference in list(self.unnotified):
                self.credited_now(reference)
            self.stats["wema_ticks"] += sum(r.ran for r in reports)
            self.stats["wema_ticks_skipped"] += sum(not r.ran for r in reports)
            self.stats["reconcile_credited"] += by_ticks
            self.stats["webhooks_sent"] += len(answers)

        self.run(go())

    @rule(mode=st.sampled_from(["error", "garbage"]))
    def wema_listing_fails(self, mode: str) -> None:
        """A tick whose listing fails on its second page: nothing moves (the invariants check
        it), and the deposits stay for the next tick."""
        bank = self.recon_bank()

        class SecondPageFails(httpx.AsyncBaseTransport):
            def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
                self.inner = inner

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if request.url.params.get("page") != "1":
                    bank.listing_failures.append((mode, 0))
                return await self.inner.handle_async_request(request)

        async def go() -> None:
            config = SandboxConfig(
                WEMA_KEY, [WEMA_SECRET.encode()], "http://unused.test", page_size=2
            )
            inner = httpx.ASGITransport(app=create_wema_sandbox(config, bank))
            report = await self.wema_tick(SecondPageFails(inner))
            if report.ran and len(bank.deposits) > 2:
                assert report.failed, report
            if report.failed:
                assert report.credited == 0, report
                self.stats["faults_listing_failed"] += 1
            else:  # one page only: read whole, credited
                for reference in list(self.unnotified):
                    self.credited_now(reference)

        self.run(go())

    # --- treasury ops actions on held deposits --------------------------------------------

    @precondition(lambda self: bool(self.wallets))
    @rule(
        amount=st.sampled_from(DEPOSITS),
        action=st.sampled_from(["credit_user", "credit_user", "mark_returned", "dismiss"]),
        who=st.integers(0, 1),
        ghost=st.sampled_from([False, False, False, True]),  # a credit to no wallet, now and then
        then=st.sampled_from(["approve", "approve", "reject", "later"]),
        approvers=st.integers(1, 8),
    )
    def ops_held_deposit_and_proposal(
        self, amount: Decimal, action: str, who: int, ghost: bool, then: str, approvers: int
    ) -> None:
        """A deposit to an account we do not have: held, a case for a person, an ops user's
        first action on it, and (unless it waits for a later step) the decision on it."""
        self.run(self.ops_hold_and_act(amount, action, who, ghost, then, approvers))

    @precondition(lambda self: bool(self.wallets))
    @rule(
        amount=st.sampled_from(DEPOSITS),
        who=st.integers(0, 1),
        approvers=st.integers(1, 8),
    )
    def ops_held_deposit_credited(self, amount: Decimal, who: int, approvers: int) -> None:
        """The whole path of an ops credit: held, proposed, approved by several at once (the
        proposer among them when their number is even)."""
        self.run(self.ops_hold_and_act(amount, "credit_user", who, False, "approve", approvers))

    async def ops_hold_and_act(
        self, amount: Decimal, action: str, who: int, ghost: bool, then: str, approvers: int
    ) -> None:
        reference = f"WEMA-OPS-{uuid.uuid4().hex[:16].upper()}"
        body, headers = wema_deposit("0000000000", amount, reference)
        answer = await self.svc.treasury.post("/treasury/webhook", content=body, headers=headers)
        assert answer.json()["status"] == "held_for_review", answer.text
        case_id = await self.svc.pool.fetchval(
            "SELECT id FROM treasury.cases WHERE kind = 'deposit_held' AND subject = $1",
            reference,
        )
        assert case_id is not None
        case = OpsCase(case_id, reference, amount, body, headers)
        self.ops_cases.append(case)
        self.stats["ops_cases_opened"] += 1
        await self.ops_act(case, action, who, ghost)
        if case.proposal is not None and then == "approve":
            await self.ops_approve(case, approvers, proposer_too=approvers % 2 == 0)
        elif case.proposal is not None and then == "reject":
            await self.ops_reject(case)

    def ops_open(self) -> list[OpsCase]:
        return [c for c in self.ops_cases if not c.resolved and c.proposal is None]

    def ops_pending(self) -> list[OpsCase]:
        return [c for c in self.ops_cases if c.proposal is not None]

    @precondition(lambda self: bool(self.wallets) and bool(self.ops_open()))
    @rule(
        data=st.data(),
        action=st.sampled_from(["credit_user", "credit_user", "mark_returned", "dismiss"]),
        who=st.integers(0, 1),
        ghost=st.sampled_from([False, False, False, True]),  # a credit to no wallet, now and then
    )
    def ops_propose_again(self, data: st.DataObject, action: str, who: int, ghost: bool) -> None:
        """Another action on a case still open (its proposal rejected, or refused)."""
        self.run(self.ops_act(data.draw(st.sampled_from(self.ops_open())), action, who, ghost))

    async def ops_act(self, case: OpsCase, action: str, who: int, ghost: bool) -> None:
        """credit_user and mark_returned wait for a second ops user; dismiss applies at once; a
        credit to a wallet that does not exist is refused and writes nothing."""
        proposer = f"ops-{uuid.uuid4().hex[:8]}"
        parameters = {}
        if action == "credit_user":
            user = f"ghost-{uuid.uuid4().hex}" if ghost else self.wallets[who].user_id
            parameters = {"userId": user}
        answer = await self.svc.treasury.post(
            f"/treasury/ops/cases/{case.case_id}/actions",
            json={"action": action, "reason": "checked by the machine", "parameters": parameters},
            headers=ops_token(proposer),
        )
        if action == "credit_user" and ghost:
            assert (answer.status_code, answer.json()["code"]) == (422, "action_refused")
            self.stats["ops_credit_refused"] += 1
            return
        assert answer.status_code == 201, answer.text
        if action == "dismiss":
            assert answer.json()["status"] == "applied"
            case.resolved = True
        else:
            assert answer.json()["status"] == "proposed"
            case.proposal, case.action, case.beneficiary = answer.json()["id"], action, who
            case.proposer = proposer
        self.stats["ops_proposals"] += 1

    @precondition(lambda self: bool(self.ops_pending()))
    @rule(data=st.data(), approvers=st.integers(1, 8), proposer_too=st.booleans())
    def ops_concurrent_approvals(
        self, data: st.DataObject, approvers: int, proposer_too: bool
    ) -> None:
        """Several ops users approve at once (the proposer among them, perhaps): the proposer
        gets 403, exactly one other applies it, the rest find it decided."""
        case = data.draw(st.sampled_from(self.ops_pending()))
        self.run(self.ops_approve(case, approvers, proposer_too))

    async def ops_approve(self, case: OpsCase, approvers: int, proposer_too: bool) -> None:
        names = [f"ops-{uuid.uuid4().hex[:8]}" for _ in range(approvers)]
        if proposer_too:
            names.append(case.proposer)
        answers = await asyncio.gather(
            *(
                self.svc.treasury.post(
                    f"/treasury/ops/actions/{case.proposal}/approve",
                    json={},
                    headers=ops_token(name),
                )
                for name in names
            )
        )
        codes = Counter(a.status_code for a in answers)
        assert codes == Counter({201: 1, 409: approvers - 1, 403: int(proposer_too)}), codes
        if case.action == "credit_user":
            self.wallets[case.beneficiary].ops_credits += case.amount
            self.stats["ops_credits_applied"] += 1
        case.resolved, case.proposal = True, None
        self.stats["ops_approvals_sent"] += len(names)
        self.stats["duplicates_ops_approval"] += approvers - 1
        self.stats["ops_own_approval_refused"] += int(proposer_too)

    @precondition(lambda self: bool(self.ops_pending()))
    @rule(data=st.data())
    def ops_rejection(self, data: st.DataObject) -> None:
        """A rejected proposal moves nothing, cannot be approved after, and leaves the case
        open for another proposal."""
        self.run(self.ops_reject(data.draw(st.sampled_from(self.ops_pending()))))

    async def ops_reject(self, case: OpsCase) -> None:
        treasury = self.svc.treasury
        rejected = await treasury.post(
            f"/treasury/ops/actions/{case.proposal}/reject",
            json={"reason": "not proven"},
            headers=ops_token("ops-reviewer"),
        )
        assert rejected.json()["status"] == "rejected", rejected.text
        late = await treasury.post(
            f"/treasury/ops/actions/{case.proposal}/approve", json={}, headers=ops_token("ops-late")
        )
        assert late.status_code == 409, late.text
        case.proposal = None
        self.stats["ops_rejections"] += 1

    @precondition(lambda self: bool(self.ops_cases))
    @rule(data=st.data())
    def ops_case_deposit_redelivered(self, data: st.DataObject) -> None:
        """Wema redelivers a held deposit, whatever a person did with it: a duplicate."""
        case = data.draw(st.sampled_from(self.ops_cases))

        async def go() -> None:
            answer = await self.svc.treasury.post(
                "/treasury/webhook", content=case.body, headers=case.headers
            )
            assert answer.json()["status"] == "duplicate", answer.text
            self.stats["deposits_sent"] += 1
            self.stats["duplicates_deposit"] += 1

        self.run(go())

    @invariant()
    def every_deposit_wema_made_is_credited_at_most_once(self) -> None:
        bank: Bank | None = getattr(self, "_recon_bank", None)
        if bank is None or not bank.deposits:
            return
        references = [p["transaction_reference"] for p in bank.deposits]

        async def go() -> None:
            counts = await credits_of(self.svc.pool, references)
            assert all(counts.get(r, 0) <= 1 for r in references), counts
            assert {r for r in references if counts.get(r, 0) == 0} == set(self.unnotified)

        self.run(go())

    def teardown(self) -> None:
        """After a final tick, every deposit Wema made is credited exactly once."""
        bank: Bank | None = getattr(self, "_recon_bank", None)
        if bank is None or not bank.deposits:
            return
        references = [p["transaction_reference"] for p in bank.deposits]

        async def go() -> None:
            report = await self.wema_tick()
            assert report.ran, report
            assert not report.failed, report
            counts = await credits_of(self.svc.pool, references)
            assert all(counts.get(r, 0) == 1 for r in references), counts
            self.stats["final_ticks"] += 1

        self.run(go())

    @invariant()
    def ops_cases_are_as_the_model_says(self) -> None:
        if not self.ops_cases:
            return

        async def go() -> None:
            rows = await self.svc.pool.fetch(
                "SELECT id, status FROM treasury.cases WHERE id = ANY($1::bigint[])",
                [c.case_id for c in self.ops_cases],
            )
            status = {r["id"]: r["status"] for r in rows}
            for case in self.ops_cases:
                assert status[case.case_id] == ("resolved" if case.resolved else "open"), case
            for wallet in self.wallets:
                ledger = await ledger_of(self.svc.pool, wallet.user_id)
                assert ledger.ops_credits == wallet.ops_credits, (ledger, wallet)

        self.run(go())

    # --- topup operations (docs/DESIGN.md, "Topup operations") ----------------------------

    async def sla_passes(self) -> None:
        """Time passes the SLA: every pending topup becomes an sla_breached case (no queries)."""
        assert (await reconcile_once(self.svc.topup_ports, SLA_PASSES)).ran
        self.stats["ops_sla_sweeps"] += 1

    async def open_sla_cases(self) -> list[tuple[int, str]]:
        """(case id, reference) of this example's open SLA cases with no proposal waiting, in
        the order the example made the topups."""
        rows = await self.svc.pool.fetch(
            "SELECT c.id, c.subject FROM topup.cases c WHERE c.kind = 'sla_breached' "
            "AND c.status = 'open' AND c.subject = ANY($1) AND NOT EXISTS (SELECT 1 FROM "
            "topup.case_actions a WHERE a.case_id = c.id AND a.status = 'proposed')",
            list(self.topups),
        )
        by_reference = {r["subject"]: int(r["id"]) for r in rows}
        return [(by_reference[r], r) for r in self.topups if r in by_reference]

    async def ops_post(self, path: str, body: dict[str, Any], user: str) -> httpx.Response:
        headers = bearer(user, roles=("ops",))
        return await self.svc.topup.post(f"/topup/ops{path}", json=body, headers=headers)

    def ops_applied(self, reference: str, status: str) -> None:
        """An ops action settled this topup: Selcom's word if it agrees, else an override."""
        topup = self.topups[reference]
        if status == topup.truth:
            topup.signalled = True
        else:
            topup.ops = status
        if status == "failed":
            self.ops_refunded.add(topup.topup_id)

    @rule(data=st.data(), action=st.sampled_from(["refund", "mark_completed"]))
    def ops_proposes(self, data: st.DataObject, action: str) -> None:
        """The SLA passes; then a refund (at once on Selcom's final failure, else a proposal)
        or a mark_completed (always a proposal) on an open SLA case."""
        self.run(self.sla_passes())
        cases: list[tuple[int, str]] = self.run(self.open_sla_cases())
        if not cases:
            return
        case_id, reference = data.draw(st.sampled_from(cases))

        async def go() -> None:
            before = (await self.statuses())[reference]
            body = {"action": action, "reason": "the customer called"}
            answer = await self.ops_post(f"/cases/{case_id}/actions", body, "ops-ada")
            self.stats["ops_proposals_sent"] += 1
            if answer.status_code == 422:  # a refund at once of a topup settled since its case
                assert (answer.json()["code"], before) == ("action_refused", "failed"), answer.text
                self.stats["ops_refused_settled_meanwhile"] += 1
                return
            assert answer.status_code == 201, answer.text
            after = (await self.statuses())[reference]
            if answer.json()["status"] == "applied":  # only a refund on Selcom's final failure
                assert (action, before, after) == ("refund", "pending", "failed"), answer.text
                assert self.topups[reference].truth == "failed"
                self.ops_applied(reference, "failed")
                self.stats["ops_refunds_at_once"] += 1
                return
            assert (answer.json()["status"], after) == ("proposed", before), answer.text
            self.proposals[answer.json()["id"]] = (reference, action)

        self.run(go())

    @precondition(lambda self: bool(self.proposals))
    @rule(data=st.data(), copies=st.integers(1, 6))
    def ops_approves(self, data: st.DataObject, copies: int) -> None:
        """The proposer's own approval is 403; `copies` other ops users approve at once: at most
        one applies, the others find it decided (409) or are refused (422: the topup settled
        meanwhile, or Selcom's fresh answer, which may differ between approvals while its query
        lags, says otherwise); refused, nothing moves and the proposal still waits."""
        action_id = data.draw(st.sampled_from(list(self.proposals)))
        reference, action = self.proposals[action_id]

        async def go() -> None:
            own = await self.ops_post(f"/actions/{action_id}/approve", {}, "ops-ada")
            assert own.status_code == 403, own.text
            before = (await self.statuses())[reference]
            answers = await asyncio.gather(
                *(
                    self.ops_post(f"/actions/{action_id}/approve", {}, f"ops-{i}")
                    for i in range(copies)
                )
            )
            codes = sorted(a.status_code for a in answers)
            after = (await self.statuses())[reference]
            self.stats["ops_approvals_sent"] += copies
            self.stats["duplicates_ops_approval"] += copies - 1
            assert set(codes) <= {201, 409, 422}, [a.text for a in answers]
            if 201 not in codes:  # refused: the proposal still waits
                assert (codes, after) == ([422] * copies, before), (codes, before, after)
                self.stats["ops_approvals_refused"] += 1
                return
            assert codes.count(201) == 1, [a.text for a in answers]
            assert before == "pending"
            assert after == ("failed" if action == "refund" else "completed")
            self.ops_applied(reference, after)
            del self.proposals[action_id]
            self.stats[f"ops_{action}_applied"] += 1

        self.run(go())

    @precondition(lambda self: bool(self.proposals))
    @rule(data=st.data())
    def ops_rejects(self, data: st.DataObject) -> None:
        """Another ops user rejects a proposal: nothing moves, the case stays open."""
        action_id = data.draw(st.sampled_from(list(self.proposals)))

        async def go() -> None:
            answer = await self.ops_post(f"/actions/{action_id}/reject", {}, "ops-bola")
            assert (answer.status_code, answer.json()["status"]) == (201, "rejected")
            del self.proposals[action_id]
            self.stats["ops_rejections"] += 1

        self.run(go())

    # --- after every step -----------------------------------------------------------------

    @invariant()
    def money_is_conserved(self) -> None:
        if not self.wallets:
            return

        async def go() -> None:
            user_ids = [w.user_id for w in self.wallets]
            current = await self.statuses()
            assert set(current) == {r for r, t in self.topups.items() if t.user_id in user_ids}
            for reference, status in current.items():
                topup = self.topups[reference]
                if topup.ops is not None:  # an approved override: what ops decided, for good
                    assert status == topup.ops, (reference, status, topup)
                    continue
                # Never the opposite of what Selcom said; settled once Selcom's word arrived.
                assert status in ("pending", topup.truth), (reference, status, topup)
                if topup.signalled:
                    assert status == topup.truth, (reference, status, topup)
            lost = Decimal(0)
            for wallet in self.wallets:
                ledger = await ledger_of(self.svc.pool, wallet.user_id)
                lost += money_lost(wallet.initial, ledger)
                assert ledger.deposits == wallet.deposits, (ledger, wallet)
                assert ledger.balance == await self.spendable(wallet), (ledger, wallet)
                assert ledger.balance >= 0
            lost += await account_drift(self.svc.pool, user_ids)
            assert lost == 0, lost
            assert await applied_twice(self.svc.pool, user_ids) == 0
            # Ops refunds are counted: exactly the ones the model saw an ops action apply.
            by_ops = await self.svc.pool.fetch(
                "SELECT topup_id FROM topup.refunds WHERE source = 'ops' AND user_id = ANY($1)",
                user_ids,
            )
            assert {r["topup_id"] for r in by_ops} == self.ops_refunded
            self.stats["conservation_checks"] += 1

        self.run(go())


# --- reconciliation with Wema's listing (used by the rules above) ------------------------------
# The tick's ports use the suite's pool; these settings give only the Wema key and secrets.
RECON_SETTINGS = load_settings(TreasurySettings, settings_env("postgresql://the-suite-pool/"))
RECON = WemaReconcileConfig(interval_seconds=0, overlap_seconds=3600, lookback_seconds=86400)


def listed_deposit(account_number: str, amount: Decimal, reference: str) -> dict[str, Any]:
    return {
        "account_number": account_number,
        "amount": amount,
        "transaction_reference": reference,
        "sender_name": "SAFETY SUITE",
        "sender_account": "9876543210",
        "sender_bank": "Access Bank",
        "narration": "deposit",
        "transaction_date": days_ago(1 / 1440),
    }


def signed_wema(payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    body = jsonio.dumps(payload)
    return body, {
        "content-type": "application/json",
        "x-wema-signature": sign(body, WEMA_SECRET.encode(), "sha512"),
    }


async def credits_of(pool: Any, references: list[str]) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT transaction_reference, count(*) AS n FROM treasury.bank_transactions "
        "WHERE transaction_reference = ANY($1::text[]) GROUP BY transaction_reference",
        references,
    )
    return {row["transaction_reference"]: row["n"] for row in rows}


def test_money_is_conserved_after_every_step_of_random_purchases_webhooks_deposits_and_ticks(
    safety_database_url: str,
) -> None:
    loop = LoopThread()
    opened = services(safety_database_url)
    svc = loop.run(opened.__aenter__())
    MoneyMachine.loop, MoneyMachine.svc = loop, svc
    MoneyMachine.stats = Counter()
    try:
        run_state_machine_as_test(MoneyMachine, settings=SETTINGS)
    finally:
        loop.run(opened.__aexit__(None, None, None))
        loop.close()
    stats = MoneyMachine.stats
    figures.record(
        "stateful_conservation",
        {
            "test": "tests/safety/test_conservation_stateful.py::"
            "test_money_is_conserved_after_every_step_of_random_purchases_webhooks_deposits_and_ticks",
            "max_examples": SETTINGS.max_examples,
            "stateful_step_count": SETTINGS.stateful_step_count,
            "selcom_calls": dict(svc.selcom.calls),
            **dict(sorted(stats.items())),
            "duplicates_sent": sum(v for k, v in stats.items() if k.startswith("duplicates_")),
            "faults_injected": sum(v for k, v in stats.items() if k.startswith("faults_")),
            "money_lost": "0",
        },
    )
