from __future__ import annotations

from datetime import UTC, datetime

import pytest

from betfuz_common.errors import Problem
from ledger.cursor import encode_cursor
from ledger.schemas import parse_export_query, parse_page_query


def test_defaults_are_every_status_newest_first_fifty_per_page() -> None:
    query = parse_page_query({})
    assert (query.filters.status, query.before_id, query.limit) == (None, None, 50)


def test_a_bare_date_means_the_whole_utc_day_for_to_and_its_start_for_from() -> None:
    filters = parse_export_query({"from": "2025-01-15", "to": "2025-01-15"})
    assert filters.created_from == datetime(2025, 1, 15, tzinfo=UTC)
    assert filters.created_to == datetime(2025, 1, 16, tzinfo=UTC)


def test_a_date_time_keeps_its_offset_and_a_naive_one_is_utc() -> None:
    query = parse_page_query(
        {"from": "2025-01-15T10:00:00+01:00", "to": "2025-01-15T12:00:00", "status": "failed"}
    )
    assert query.filters.created_from == datetime(2025, 1, 15, 9, tzinfo=UTC)
    assert query.filters.created_to == datetime(2025, 1, 15, 12, tzinfo=UTC)
    assert query.filters.status == "failed"


def test_a_plus_sign_decoded_as_a_space_still_reads_as_an_offset() -> None:
    filters = parse_export_query({"from": "2025-01-15T10:00:00 01:00"})
    assert filters.created_from == datetime(2025, 1, 15, 9, tzinfo=UTC)


def test_the_cursor_continues_after_the_id_it_carries() -> None:
    assert parse_page_query({"cursor": encode_cursor(77), "limit": "5"}).before_id == 77


def test_every_bad_parameter_is_reported_by_name_at_once() -> None:
    with pytest.raises(Problem) as caught:
        parse_page_query({"status": "lost", "from": "yesterday", "limit": "0", "cursor": "forged"})
    assert caught.value.status == 422
    assert sorted(e.field for e in caught.value.errors) == ["cursor", "from", "limit", "status"]


def test_to_must_come_after_from() -> None:
    with pytest.raises(Problem) as caught:
        parse_export_query({"from": "2025-02-01", "to": "2025-01-01"})
    assert [e.field for e in caught.value.errors] == ["to"]


@pytest.mark.parametrize("name", ["status", "limit", "cursor", "from", "to"])
def test_a_parameter_given_empty_is_refused_rather_than_read_as_no_filter(name: str) -> None:
    with pytest.raises(Problem) as caught:
        parse_page_query({name: ""})
    assert caught.value.status == 422
    assert [error.field for error in caught.value.errors] == [name]
