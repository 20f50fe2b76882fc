from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from betfuz_common.pagination import encode_cursor
from ledger.domain import EntryStatus
from ledger.schemas import EntryQuery, ExportQuery


def failed_fields(model: type[ExportQuery], params: dict[str, str]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(params)
    return sorted(".".join(map(str, e["loc"])) for e in caught.value.errors())


def test_defaults_are_every_status_newest_first_twenty_per_page() -> None:
    query = EntryQuery.model_validate({})
    assert (query.status, query.after(int), query.limit) == (None, None, 20)


def test_a_bare_date_means_the_whole_utc_day_for_to_and_its_start_for_from() -> None:
    filters = ExportQuery.model_validate({"from": "2025-01-15", "to": "2025-01-15"}).filters()
    assert filters.created_from == datetime(2025, 1, 15, tzinfo=UTC)
    assert filters.created_to == datetime(2025, 1, 16, tzinfo=UTC)


def test_a_date_time_keeps_its_offset_and_a_naive_one_is_utc() -> None:
    query = EntryQuery.model_validate(
        {"from": "2025-01-15T10:00:00+01:00", "to": "2025-01-15T12:00:00", "status": "failed"}
    )
    filters = query.filters(query.status)
    assert filters.created_from == datetime(2025, 1, 15, 9, tzinfo=UTC)
    assert filters.created_to == datetime(2025, 1, 15, 12, tzinfo=UTC)
    assert filters.status is EntryStatus.FAILED


def test_a_plus_sign_decoded_as_a_space_still_reads_as_an_offset() -> None:
    filters = ExportQuery.model_validate({"from": "2025-01-15T10:00:00 01:00"}).filters()
    assert filters.created_from == datetime(2025, 1, 15, 9, tzinfo=UTC)


def test_the_cursor_continues_after_the_id_it_carries() -> None:
    query = EntryQuery.model_validate({"cursor": encode_cursor(77), "limit": "5"})
    assert (query.after(int), query.limit) == (77, 5)


def test_every_bad_parameter_is_reported_by_name_at_once() -> None:
    fields = failed_fields(
        EntryQuery, {"status": "lost", "from": "yesterday", "limit": "0", "cursor": "forg ed"}
    )
    assert fields == ["cursor", "from", "limit", "status"]


def test_to_must_come_after_from() -> None:
    assert failed_fields(ExportQuery, {"from": "2025-02-01", "to": "2025-01-01"}) == ["to"]


@pytest.mark.parametrize("name", ["status", "limit", "cursor", "from", "to"])
def test_a_parameter_given_empty_is_refused_rather_than_read_as_no_filter(name: str) -> None:
    assert failed_fields(EntryQuery, {name: ""}) == [name]


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1998-06-01", "2101-01-01"])
def test_a_date_outside_any_plausible_window_is_refused_not_overflowed(day: str) -> None:
    assert failed_fields(ExportQuery, {"to": day}) == ["to"]
