"""`service.booked_alike`: which listed deposits our books already hold with the same facts, read
in one statement. Only those skip `settle_deposit`; anything in doubt takes the locked path."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from betfuz_common.db import Conn
from treasury import service
from treasury.domain import Deposit

NUMBER = "0123456789"
OTHER_NUMBER = "9876543210"


class BookedRows:
    """Stands in for the tick's connection: answers the look-up with these rows, and keeps
    every statement it was sent."""

    def __init__(self, *rows: dict[str, Any]) -> None:
        self.rows = list(rows)
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self.sent.append((sql, args))
        return self.rows


def listed(reference: str, amount: str = "100", number: str = NUMBER) -> Deposit:
    return Deposit(
        account_number=number,
        amount=Decimal(amount),
        transaction_reference=reference,
        transaction_date=datetime(2026, 12, 1, tzinfo=UTC),
    )


def booked(
    reference: str, outcome: str, amount: str | None = "100", number: str | None = NUMBER
) -> dict[str, Any]:
    return {
        "transaction_reference": reference,
        "outcome": outcome,
        "id": f"id-{reference}-{outcome}",
        "amount": None if amount is None else Decimal(amount),
        "account_number": number,
    }


async def test_a_chunk_is_looked_up_in_one_statement_each_reference_once() -> None:
    conn = BookedRows()
    deposits = [listed("A"), listed("B"), listed("A")]
    assert await service.booked_alike(cast(Conn, conn), deposits) == [False, False, False]
    assert len(conn.sent) == 1
    assert conn.sent[0][1] == (["A", "B"],)


async def test_only_a_reference_booked_with_the_same_amount_and_account_is_alike() -> None:
    conn = BookedRows(
        booked("SAME", "credited", "100.00"),  # the same amount, written with its kobo
        booked("HELD", "held"),
        booked("MORE", "credited", "150"),
        booked("MOVED", "held", number=OTHER_NUMBER),
        booked("SALVAGED", "resolved_by_ops", amount=None, number=None),
    )
    deposits = [
        listed("SAME"),
        listed("HELD"),
        listed("MORE"),
        listed("MOVED"),
        listed("SALVAGED"),
        listed("NEW"),
    ]
    alike = await service.booked_alike(cast(Conn, conn), deposits)
    assert alike == [True, True, False, False, False, False]


async def test_a_reference_is_alike_only_when_every_row_that_books_it_agrees() -> None:
    """A held deposit a person resolved has two rows; settle_deposit reads one of them. Alike
    only when both agree, so it never matters which."""
    conn = BookedRows(
        booked("AGREE", "held"),
        booked("AGREE", "resolved_by_ops"),
        booked("DIFFER", "held"),
        booked("DIFFER", "resolved_by_ops", number=None),
    )
    alike = await service.booked_alike(cast(Conn, conn), [listed("AGREE"), listed("DIFFER")])
    assert alike == [True, False]
