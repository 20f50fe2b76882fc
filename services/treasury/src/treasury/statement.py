"""The daily statement check: one day of Wema's listing against our books.

The day is a Lagos business day, 00:00 to 24:00 West Africa Time (UTC+01:00, the whole year:
Nigeria keeps no daylight saving), because that is the day Wema's statement and a Nigerian
customer mean. Both sides are taken on the deposit's `transaction_date`, `from` inclusive and
`to` exclusive.

Our side is every deposit we recorded that day: credited to a wallet, or held for review (the
money reached us; a person decides whose it is). Differences, each named by its reference:

- missing here:     Wema lists it; we recorded nothing under that reference (any date);
- missing there:    we recorded it on that day; Wema does not list it;
- amount differs:   both have the reference, with another amount or account number;
- listed twice:     Wema lists the reference more than once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Literal

import asyncpg

from treasury import repository as repo
from treasury.domain import Deposit
from treasury.ports import TreasuryPorts

LAGOS = timezone(timedelta(hours=1), "WAT")
DifferenceKind = Literal["missing_here", "missing_there", "amount_differs", "listed_twice"]


def lagos_day(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), LAGOS)
    return start, start + timedelta(days=1)


def lagos_today() -> date:
    return datetime.now(UTC).astimezone(LAGOS).date()


@dataclass(frozen=True)
class Side:
    count: int = 0
    total: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    reference: str
    listed: tuple[Decimal, str] | None = None  # (amount, account number)
    booked: tuple[Decimal, str, str] | None = None  # (amount, account number, credited|held)


@dataclass(frozen=True)
class Statement:
    day: date
    start: datetime
    end: datetime
    listed: Side
    credited: Side
    held: Side
    differences: list[Difference] = field(default_factory=list)


def _side(amounts: list[Decimal]) -> Side:
    return Side(len(amounts), sum(amounts, Decimal("0.00")))


async def check_day(ports: TreasuryPorts, day: date) -> Statement:
    """Raises ProviderError when Wema's listing cannot be read (then nothing is compared)."""
    start, end = lagos_day(day)
    listed = await ports.wema.list_transactions(start, end)
    references = [deposit.transaction_reference for deposit in listed]
    async with ports.pool.acquire() as conn:
        that_day = await repo.booked_between(conn, start, end)
        anywhere = await repo.booked_for(conn, references)
    return compare(day, listed, that_day, anywhere)


def compare(
    day: date,
    listed: Sequence[Deposit],
    that_day: Sequence[asyncpg.Record],
    anywhere: Sequence[asyncpg.Record],
) -> Statement:
    """`that_day`: what our books hold dated that day; `anywhere`: what they hold under the
    listed references, whatever the date."""
    start, end = lagos_day(day)
    booked = {row["transaction_reference"]: row for row in anywhere}
    seen = Counter(deposit.transaction_reference for deposit in listed)
    differences: list[Difference] = []
    for reference, times in sorted(seen.items()):
        if times > 1:
            differences.append(Difference("listed_twice", reference))
    for deposit in listed:
        reference = deposit.transaction_reference
        ours = booked.get(reference)
        here = (deposit.amount, deposit.account_number)
        if ours is None:
            differences.append(Difference("missing_here", reference, listed=here))
        elif (ours["amount"], ours["account_number"]) != here:
            there = (ours["amount"], ours["account_number"], ours["outcome"])
            differences.append(Difference("amount_differs", reference, listed=here, booked=there))
    for row in that_day:
        if row["transaction_reference"] not in seen:
            there = (row["amount"], row["account_number"], row["outcome"])
            differences.append(
                Difference("missing_there", row["transaction_reference"], booked=there)
            )
    return Statement(
        day=day,
        start=start,
        end=end,
        listed=_side([deposit.amount for deposit in listed]),
        credited=_side([row["amount"] for row in that_day if row["outcome"] == "credited"]),
        held=_side([row["amount"] for row in that_day if row["outcome"] == "held"]),
        differences=differences,
    )


def _naira(amount: Decimal) -> str:
    return f"NGN {amount:,.2f}"


def render(statement: Statement) -> str:
    """What `python -m treasury reconcile --date` prints: both sides, then every difference."""
    s = statement
    ours = Side(s.credited.count + s.held.count, s.credited.total + s.held.total)
    lines = [
        f"statement check for {s.day.isoformat()} (Lagos day: {s.start.isoformat()} to "
        f"{s.end.isoformat()})",
        f"  Wema lists:    {s.listed.count} deposits, {_naira(s.listed.total)}",
        f"  our books:     {ours.count} deposits, {_naira(ours.total)}",
        f"    credited:    {s.credited.count} deposits, {_naira(s.credited.total)}",
        f"    held:        {s.held.count} deposits, {_naira(s.held.total)}",
        f"  differences:   {len(s.differences)}",
    ]
    for d in s.differences:
        listed = f"Wema {_naira(d.listed[0])} to {d.listed[1]}" if d.listed else ""
        booked = f"ours {_naira(d.booked[0])} to {d.booked[1]} ({d.booked[2]})" if d.booked else ""
        said = "; ".join(part for part in (listed, booked) if part)
        lines.append(
            f"    {d.kind.replace('_', ' ')}: {d.reference}" + (f": {said}" if said else "")
        )
    return "\n".join(lines)
