"""`make demo`: the whole story against the running stack, each step printed with what it shows.

A purchase that succeeds, one that the operator refuses and that is refunded (shown by what the
wallet can still pay), an account opened, a deposit credited, the history, the seeded big win
recorded on the chain, its CSV row and its verification against the chain.

Every request goes through the stack's router (:8000) or the Wema sandbox's test endpoint,
except the first step: the demo's own wallet (demo-bola) is reset in the dev database, so each
run starts from the same ₦20,000 and no bank account (one account per user is a rule the demo
shows, so a second run needs the first one's account gone). Ids, keys, BVN and deposit
reference are fresh on each run. A step that does not show what it should stops the demo with
exit status 1.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TextIO

import httpx

from betfuz_common.auth import issue_token
from betfuz_common.settings import CommonSettings
from dev import seed

OK_PHONE = "+2348030000001"  # the Selcom sandbox delivers
REFUSED_PHONE = "+2348030000002"  # the Selcom sandbox answers 051: a definitive failure
LEDGER_WAIT_SECONDS = 120.0
USER = next(u for u in seed.USERS if u.id == seed.DEMO_RUN_USER)
FIRST_PURCHASE = Decimal(1000)
REFUSED_PURCHASE = USER.balance - FIRST_PURCHASE  # everything left: the proof needs it all
DEPOSIT = Decimal(5000)


class StepFailed(Exception):
    """What a step should have shown and what it showed instead."""


def naira(value: Any) -> str:
    """A money field as the API gives it (a number, a string, or {amount, currency})."""
    if isinstance(value, dict):
        value = value.get("amount", value)
    try:
        return f"₦{Decimal(str(value)):,.2f}"
    except ArithmeticError:
        return str(value)


def body_of(answer: httpx.Response) -> dict[str, Any]:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def expect(answer: httpx.Response, status: int, what: str) -> dict[str, Any]:
    if answer.status_code != status:
        raise StepFailed(
            f"{what}: expected HTTP {status}, got {answer.status_code}: {answer.text[:300]}"
        )
    return body_of(answer)


class Demo:
    def __init__(self, api: httpx.Client, wema: httpx.Client, out: TextIO, secret: str) -> None:
        self.api = api
        self.wema = wema
        self.out = out
        self.user_headers = self._bearer(secret, USER.id, [])
        self.auditor_headers = self._bearer(secret, "demo-auditor", ["compliance"])
        self.run_id = uuid.uuid4().hex[:8]
        self.topups: list[str] = []

    @staticmethod
    def _bearer(secret: str, user_id: str, roles: list[str]) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(secret, user_id, roles=roles)}"}

    def say(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def step(self, number: int, title: str) -> None:
        self.say(f"\n{number}. {title}")

    def show(self, text: str) -> None:
        self.say(f"   {text}")

    # -- purchases --------------------------------------------------------------------------

    def purchase(self, phone: str, amount: Decimal) -> httpx.Response:
        return self.api.post(
            "/topup",
            json={"phone": phone, "carrier": "mtn", "amount": int(amount), "type": "airtime"},
            headers={**self.user_headers, "Idempotency-Key": f"demo-{uuid.uuid4().hex}"},
        )

    def settled(self, created: dict[str, Any]) -> dict[str, Any]:
        """The topup once it left `pending` (the sandbox's test numbers settle in the answer)."""
        topup_id = created.get("transactionId")
        if not isinstance(topup_id, str):
            raise StepFailed(f"POST /topup gave no transactionId: {created}")
        self.topups.append(topup_id)
        deadline = time.monotonic() + 15
        while True:
            view = expect(self.api.get(f"/topup/{topup_id}", headers=self.user_headers), 200, "GET")
            if view.get("status") != "pending" or time.monotonic() > deadline:
                return view
            time.sleep(0.3)

    def buy(self, phone: str, amount: Decimal, wanted: str, why: str) -> dict[str, Any]:
        created = expect(self.purchase(phone, amount), 201, f"POST /topup {naira(amount)}")
        view = self.settled(created)
        if view.get("status") != wanted:
            raise StepFailed(f"{why}: expected status {wanted}, got {view.get('status')}: {view}")
        self.show(
            f"POST /topup {naira(amount)} MTN airtime to {phone} → 201, "
            f"status {view['status']} ({view.get('transactionId')})"
        )
        return view

    def step_purchase(self) -> None:
        self.step(1, "A purchase that succeeds")
        self.buy(OK_PHONE, FIRST_PURCHASE, "completed", "Selcom delivers for this number")

    def step_refund(self) -> None:
        self.step(2, "A purchase the operator refuses, refunded")
        view = self.buy(REFUSED_PHONE, REFUSED_PURCHASE, "failed", "Selcom answers 051 for it")
        self.show(
            f'Selcom said: "{view.get("errorMessage")}"; the API says: "{view.get("message")}"'
        )
        self.show("the refund is real — the wallet can pay the same amount again:")
        self.buy(OK_PHONE, REFUSED_PURCHASE, "completed", "the refunded money pays")
        refused = self.purchase(OK_PHONE, Decimal(50))
        problem = expect(refused, 402, "a ₦50 purchase from an empty wallet")
        said = problem.get("code") or problem.get("title")
        self.show(f"and nothing was paid twice: ₦50.00 more → 402 {said}")

    # -- treasury ---------------------------------------------------------------------------

    def step_account(self) -> str:
        self.step(3, "A bank account opened (Wema virtual NUBAN, BVN-linked)")
        bvn = "2" + "".join(secrets.choice("0123456789") for _ in range(10))
        answer = self.api.post(
            "/treasury/accounts",
            json={
                "bvn": bvn,
                "firstName": "Bola",
                "lastName": "Demo",
                "phoneNumber": OK_PHONE,
                "email": f"bola+{self.run_id}@demo.betfuz.test",
            },
            headers=self.user_headers,
        )
        account = expect(answer, 201, "POST /treasury/accounts")
        number = account.get("accountNumber")
        if not isinstance(number, str):
            raise StepFailed(f"the account has no accountNumber: {account}")
        self.show(
            f"POST /treasury/accounts → 201, {account.get('bankName')} {number} "
            f"({account.get('accountName')}), status {account.get('status')}, "
            f"BVN shown as {account.get('bvn', 'masked')}"
        )
        return number

    def step_deposit(self, account_number: str) -> str:
        self.step(4, "A deposit credited (a signed Wema webhook)")
        order = {"account_number": account_number, "amount": str(DEPOSIT)}
        answer = self.wema.post("/_sandbox/deposits", json=order)
        result = expect(answer, 200, "the Wema sandbox's deposit")
        (reference,) = result.get("references") or [None]
        if result.get("outcomes") != {"credited": 1} or not isinstance(reference, str):
            raise StepFailed(f"expected the webhook to credit once, got {result}")
        self.show(f"Wema → POST /treasury/webhook {reference} {naira(DEPOSIT)} → credited")
        me = expect(self.api.get("/treasury/accounts/me", headers=self.user_headers), 200, "GET")
        self.show(f"GET /treasury/accounts/me → 200, account balance {naira(me.get('balance'))}")
        self.buy(OK_PHONE, DEPOSIT, "completed", "the deposit credited the (empty) wallet")
        self.show("the wallet was empty after step 2: the deposit paid for that purchase")
        return reference

    def step_history(self, reference: str) -> None:
        self.step(5, "The history")
        page = expect(
            self.api.get("/treasury/accounts/me/transactions", headers=self.user_headers),
            200,
            "GET /treasury/accounts/me/transactions",
        )
        items = page.get("items") or []
        mine = [i for i in items if i.get("transactionReference", i.get("reference")) == reference]
        if not mine:
            raise StepFailed(f"the deposit {reference} is not in the history: {items}")
        self.show(f"GET /treasury/accounts/me/transactions → 200, {len(items)} deposit(s):")
        for item in items:
            self.show(
                f"  {item.get('type')} {naira(item.get('amount'))} from {item.get('senderName')} "
                f"({item.get('transactionReference')})"
            )
        purchases = expect(
            self.api.get("/topup", params={"limit": 20}, headers=self.user_headers), 200, "GET"
        )
        listed = {i.get("transactionId"): i for i in purchases.get("items") or []}
        missing = [t for t in self.topups if t not in listed]
        if missing:
            raise StepFailed(f"GET /topup does not list this run's purchases {missing}")
        self.show(f"GET /topup → 200, this run's {len(self.topups)} purchases:")
        for topup_id in self.topups:
            item = listed[topup_id]
            amount, phone = naira(item.get("amount")), item.get("phone")
            self.show(f"  {topup_id} {amount} to {phone}: {item.get('status')}")

    # -- ledger -----------------------------------------------------------------------------

    def step_big_win(self) -> dict[str, Any]:
        self.step(6, f"A big win recorded on the chain ({seed.BIG_WIN_SLIP}, seeded)")
        path = f"/ledger/entries/{seed.BIG_WIN_SLIP}"
        deadline = time.monotonic() + LEDGER_WAIT_SECONDS
        said_waiting = False
        while True:
            answer = self.api.get(path, headers=self.auditor_headers)
            entry = body_of(answer)
            if answer.status_code == 200 and entry.get("status") == "confirmed":
                break
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"{path} is not confirmed after {LEDGER_WAIT_SECONDS:.0f} s: "
                    f"HTTP {answer.status_code} {answer.text[:300]}"
                )
            if not said_waiting:
                self.show("waiting for the ledger worker (it ticks every few seconds in dev)…")
                said_waiting = True
            time.sleep(1)
        self.show(
            f"GET {path} → 200, status confirmed: {naira(entry.get('winAmount'))} on "
            f"{entry.get('network')}, tx {entry.get('txHash')}, block {entry.get('blockNumber')}"
        )
        return entry

    def step_csv(self) -> None:
        self.step(7, "Its row in the compliance CSV")
        answer = self.api.get("/ledger/export.csv", headers=self.auditor_headers)
        if answer.status_code != 200:
            raise StepFailed(
                f"GET /ledger/export.csv: HTTP {answer.status_code} {answer.text[:300]}"
            )
        rows = list(csv.reader(io.StringIO(answer.text)))
        row = next((r for r in rows[1:] if r and r[0] == seed.BIG_WIN_SLIP), None)
        if not rows or row is None:
            raise StepFailed(f"no {seed.BIG_WIN_SLIP} row in the CSV: {answer.text[:300]}")
        self.show(f"GET /ledger/export.csv → 200, {len(rows) - 1} row(s); header and the big win:")
        self.show("  " + ",".join(rows[0]))
        self.show("  " + ",".join(row))

    def step_verify(self) -> None:
        self.step(8, "Its verification against the chain")
        path = f"/ledger/verify/{seed.BIG_WIN_SLIP}"
        check = expect(self.api.get(path, headers=self.auditor_headers), 200, f"GET {path}")
        if check.get("verified") is not True:
            raise StepFailed(f"{path} did not verify: {check}")
        passed = ", ".join(name for name, ok in (check.get("checks") or {}).items() if ok)
        on_chain = check.get("onChain") or {}
        self.show(
            f"GET {path} → 200, verified: true (contract {on_chain.get('contractAddress')}; "
            f"checks passed: {passed})"
        )


def reset_wallet(out: TextIO) -> None:
    url = seed.database_url()
    asyncio.run(seed.reset_user(url, USER))
    out.write(
        f"0. The demo's wallet: {USER.id} reset in the dev database to {naira(USER.balance)}, "
        "no bank account (the one step that is not an API call)\n"
    )


def run(
    api_url: str,
    wema_url: str,
    out: TextIO,
    reset: Callable[[TextIO], None],
    transport: httpx.BaseTransport | None = None,
) -> int:
    secret = os.environ.get("JWT_SECRET") or CommonSettings.DEV_DEFAULTS["JWT_SECRET"]
    started = time.monotonic()
    out.write(f"make demo — the story, against the running stack at {api_url}\n\n")
    with (
        httpx.Client(base_url=api_url, timeout=30, transport=transport) as api,
        httpx.Client(base_url=wema_url, timeout=60, transport=transport) as wema,
    ):
        demo = Demo(api, wema, out, secret)
        try:
            api.get("/topup/health").raise_for_status()
            reset(out)
            demo.step_purchase()
            demo.step_refund()
            number = demo.step_account()
            reference = demo.step_deposit(number)
            demo.step_history(reference)
            demo.step_big_win()
            demo.step_csv()
            demo.step_verify()
        except StepFailed as exc:
            out.write(f"\n✗ the demo stopped: {exc}\n")
            return 1
        except httpx.HTTPError as exc:
            out.write(
                f"\n✗ the demo stopped: the stack did not answer ({type(exc).__name__}: {exc}). "
                "Is `make run` running?\n"
            )
            return 1
        except seed.SeedRefused as exc:
            out.write(f"\n✗ the demo stopped: its wallet cannot be reset: {exc}\n")
            return 1
    out.write(
        f"\n✓ demo done in {time.monotonic() - started:.1f} s: every step showed what it should\n"
    )
    return 0


def main() -> int:
    api_url = os.environ.get("STACK_URL", "http://127.0.0.1:8000")
    wema_url = os.environ.get("WEMA_SANDBOX_URL", "http://127.0.0.1:9102")
    return run(api_url, wema_url, sys.stdout, reset_wallet)


if __name__ == "__main__":
    sys.exit(main())
