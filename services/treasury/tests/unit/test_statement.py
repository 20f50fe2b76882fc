"""The statement comparison on its own: both sides' counts and sums, and every difference."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

import asyncpg

from treasury.domain import Deposit
from treasury.statement import LAGOS, compare, render

DAY = date(2026, 12, 1)


def listed(reference: str, amount: str, account: str = "0123456789") -> Deposit:
    return Deposit(
        account_number=account,
        amount=Decimal(amount),
        transaction_reference=reference,
        transaction_date=datetime(2026, 12, 1, 10, 0, tzinfo=LAGOS),
    )


def booked(
    reference: str, amount: str, outcome: str = "credited", account: str = "0123456789"
) -> Any:
    return {
        "transaction_reference": reference,
        "amount": Decimal(amount),
        "account_number": account,
        "outcome": outcome,
    }


def records(rows: list[Any]) -> list[asyncpg.Record]:
    return cast(list[asyncpg.Record], rows)


def test_agreeing_books_have_no_difference_and_both_sides_add_up() -> None:
    wema = [listed("A", "100"), listed("B", "250.50")]
    ours = [booked("A", "100"), booked("B", "250.50", "held")]
    statement = compare(DAY, wema, records(ours), records(ours))
    assert statement.differences == []
    assert (statement.listed.count, statement.listed.total) == (2, Decimal("350.50"))
    assert (statement.credited.count, statement.credited.total) == (1, Decimal("100"))
    assert (statement.held.count, statement.held.total) == (1, Decimal("250.50"))
    assert "differences:   0" in render(statement)


def test_every_kind_of_difference_is_named_by_its_reference() -> None:
    wema = [
        listed("HERE", "1"),
        listed("AMOUNT", "2"),
        listed("ACCOUNT", "3", account="0000000019"),
        listed("TWICE", "4"),
        listed("TWICE", "4"),
        listed("OTHER-DAY", "5"),
    ]
    that_day = [
        booked("AMOUNT", "20"),
        booked("ACCOUNT", "3"),
        booked("TWICE", "4"),
        booked("THERE", "6"),
    ]
    anywhere = [*that_day, booked("OTHER-DAY", "5")]  # booked under another day's date
    statement = compare(DAY, wema, records(that_day), records(anywhere))
    kinds = sorted((d.kind, d.reference) for d in statement.differences)
    assert kinds == [
        ("amount_differs", "ACCOUNT"),
        ("amount_differs", "AMOUNT"),
        ("listed_twice", "TWICE"),
        ("missing_here", "HERE"),
        ("missing_there", "THERE"),
    ]
    printed = render(statement)
    assert "amount differs: AMOUNT: Wema NGN 2.00 to 0123456789; ours NGN 20.00" in printed
    assert "missing there: THERE: ours NGN 6.00 to 0123456789 (credited)" in printed
    assert "(Lagos day: 2026-12-01T00:00:00+01:00 to 2026-12-02T00:00:00+01:00)" in printed
