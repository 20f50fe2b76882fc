from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.cursor import CursorError, decode_cursor, encode_cursor


@given(st.integers(min_value=1, max_value=2**63 - 1))
def test_a_cursor_decodes_to_the_id_it_was_made_from(last_id: int) -> None:
    assert decode_cursor(encode_cursor(last_id)) == last_id


def test_a_cursor_is_opaque_and_url_safe() -> None:
    cursor = encode_cursor(42)
    assert "42" not in cursor
    assert cursor.replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("bad", ["", "42", "!!!", "bGUxOg", "bGUxOi01", "eHg6NDI", "bGUxOjA"])
def test_anything_the_api_did_not_issue_is_refused(bad: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(bad)
