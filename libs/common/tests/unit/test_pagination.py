import base64
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from betfuz_common.errors import Problem
from betfuz_common.pagination import (
    CURSOR_PATTERN,
    MAX_LIMIT,
    PageQuery,
    decode_cursor,
    encode_cursor,
    slice_of,
)

MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(MOMENTS, st.uuids())
def test_a_cursor_round_trips_to_the_exact_position(moment: datetime, row: uuid.UUID) -> None:
    key = (moment, f"btx_{row.hex}")
    cursor = encode_cursor(key)
    assert re.fullmatch(CURSOR_PATTERN, cursor)  # the documented shape
    assert decode_cursor(cursor, tuple[datetime, str]) == key


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_an_integer_key_round_trips_and_is_not_readable_in_the_cursor(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert decode_cursor(cursor, int) == last_id
    assert str(last_id) not in cursor or last_id < 10
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("bad", ["", "42", "!!!", "bGUxOg", "W10", "WzIsMV0", "WzEsIngiXQ"])
def test_anything_the_api_did_not_issue_is_a_422_naming_the_cursor(bad: str) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(bad, int)
    assert caught.value.status == 422
    assert [e.field for e in caught.value.errors] == ["cursor"]


def test_a_slice_says_whether_another_page_exists_from_one_extra_row() -> None:
    assert slice_of([1, 2, 3], 2, str).items == [1, 2]
    assert slice_of([1, 2, 3], 2, str).next_key == "2"
    assert slice_of([1, 2], 2, str).next_key is None


def test_every_list_has_the_same_limits() -> None:
    assert PageQuery.model_validate({}).limit == 20
    assert PageQuery.model_validate({"limit": str(MAX_LIMIT)}).limit == 100
    with pytest.raises(ValueError, match="limit"):
        PageQuery.model_validate({"limit": "101"})


def cursor_around(key: object) -> str:
    """A cursor spelled as ours are, around a key we never issued."""
    return base64.urlsafe_b64encode(json.dumps([1, key]).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "key",
    [
        ["0001-01-01T00:00:00+23:59", "top_0"],  # year 0 once in UTC
        ["9999-12-31T23:59:59.999999-23:59", "top_0"],  # year 10000 once in UTC
        ["2025-01-15T14:30:00Z", 2**63],
    ],
)
def test_a_cursor_around_a_key_no_row_can_have_is_a_422_not_a_500_when_bound(
    key: list[object],
) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor_around(key), tuple[datetime, int | str])
    assert caught.value.status == 422
    assert [e.field for e in caught.value.errors] == ["cursor"]


@pytest.mark.parametrize("last_id", [2**63, -(2**63) - 1])
def test_an_integer_key_past_bigint_is_not_a_cursor_the_api_gave(last_id: int) -> None:
    with pytest.raises(Problem) as caught:
        decode_cursor(cursor_around(last_id), int)
    assert caught.value.status == 422
