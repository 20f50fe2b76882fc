import re
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from treasury.errors import InvalidCursor
from treasury.service import CURSOR_PATTERN, decode_cursor, encode_cursor

MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(MOMENTS, st.uuids())
def test_a_cursor_round_trips_to_the_exact_position(moment: datetime, row: uuid.UUID) -> None:
    row_id = f"btx_{row.hex}"
    cursor = encode_cursor(moment, row_id)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert decode_cursor(cursor) == (moment, row_id)


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_cursor_the_document_allows_decodes(cursor: str) -> None:
    decode_cursor(cursor)


@pytest.mark.parametrize("cursor", ["", "abc", "1.btx_x", "1.btx_" + "a" * 32 + "\n", "-1.btx_"])
def test_other_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)
