"""The sandbox's bank: Wema NUBANs, one account per creation reference, every call counted."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any

from betfuz_common import jsonio

WEMA_BANK_CODE = "035"


def nuban_check_digit(bank_code: str, serial: str) -> int:
    # Written apart from the service's own check on purpose: the e2e tests cross-check them.
    total = sum(int(d) * w for d, w in zip(bank_code + serial, cycle((3, 7, 3)), strict=False))
    return (10 - total % 10) % 10


def wema_nuban(serial: int) -> str:
    digits = f"{serial:09d}"
    return digits + str(nuban_check_digit(WEMA_BANK_CODE, digits))


@dataclass
class Call:
    reference: str
    email: str


@dataclass
class Bank:
    by_reference: dict[str, dict[str, str]] = field(default_factory=dict)
    by_number: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # Test hooks: what the next creations do instead of answering normally.
    failures: list[tuple[str, float]] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    # Every deposit the bank made (notified or not), as its webhook carries it: the listing.
    deposits: list[dict[str, Any]] = field(default_factory=list)
    # What the next listing pages do instead: "error" (500), "timeout" (answer after the
    # delay), "garbage" (a 200 that is not the listing).
    listing_failures: list[tuple[str, float]] = field(default_factory=list)

    def open(self, reference: str, first_name: str, last_name: str) -> dict[str, str]:
        """Same reference, same account: that is what makes the service's retries safe."""
        existing = self.by_reference.get(reference)
        if existing is not None:
            return existing
        number = wema_nuban(self.rng.randrange(10**8, 10**9))
        while number in self.by_number:
            number = wema_nuban(self.rng.randrange(10**8, 10**9))
        account = {
            "accountNumber": number,
            "accountName": f"{first_name} {last_name}".upper(),
            "bankCode": WEMA_BANK_CODE,
            "bankName": "Wema Bank",
            "reference": reference,
        }
        self.by_reference[reference] = account
        self.by_number[number] = account
        return account

    def save(self, path: Path) -> None:
        """Write the accounts and the deposits (what a bank never forgets) atomically: a
        SIGKILL leaves the previous file or the new one, never half of one."""
        state = {"accounts": list(self.by_reference.values()), "deposits": self.deposits}
        scratch = path.with_name(path.name + ".tmp")
        scratch.write_bytes(jsonio.dumps(state))
        os.replace(scratch, path)

    @classmethod
    def load(cls, path: Path) -> Bank:
        """The bank a previous process saved at `path`; an empty one when there is none."""
        bank = cls()
        if not path.exists():
            return bank
        state = jsonio.loads(path.read_bytes())
        for account in state["accounts"]:
            bank.by_reference[account["reference"]] = account
            bank.by_number[account["accountNumber"]] = account
        bank.deposits.extend(state["deposits"])
        return bank

    def next_failure(self) -> tuple[str, float] | None:
        return self.failures.pop(0) if self.failures else None

    def next_listing_failure(self) -> tuple[str, float] | None:
        return self.listing_failures.pop(0) if self.listing_failures else None
