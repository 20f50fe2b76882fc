"""Query-string parsing for the read endpoints; every bad value is a 422 with its field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from betfuz_common.errors import FieldError, validation_problem
from ledger.cursor import CursorError, decode_cursor
from ledger.repository import EntryFilter

STATUSES = ("pending", "submitted", "confirmed", "failed")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class PageQuery:
    filters: EntryFilter
    before_id: int | None
    limit: int


def _moment(text: str, *, end_of_day: bool) -> datetime:
    """ISO 8601 date or date-time; a bare date is that whole UTC day, a naive time is UTC."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        start = datetime.combine(day, time(), tzinfo=UTC)
        return start + timedelta(days=1) if end_of_day else start
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_dates(params: Mapping[str, str], errors: list[FieldError]) -> EntryFilter:
    bounds: dict[str, datetime | None] = {"from": None, "to": None}
    for name in bounds:
        raw = params.get(name)
        if raw is None:
            continue
        try:
            bounds[name] = _moment(raw, end_of_day=name == "to")
        except ValueError:
            errors.append(FieldError(name, "must be an ISO 8601 date or date-time"))
    start, end = bounds["from"], bounds["to"]
    if start and end and start >= end:
        errors.append(FieldError("to", "must be after 'from'"))
    return EntryFilter(created_from=start, created_to=end)


def parse_page_query(params: Mapping[str, str]) -> PageQuery:
    errors: list[FieldError] = []
    dates = parse_dates(params, errors)
    # A parameter given empty is a mistake, not "no filter": it is refused like any bad value.
    status = params.get("status")
    if status is not None and status not in STATUSES:
        errors.append(FieldError("status", f"must be one of: {', '.join(STATUSES)}"))
    limit = DEFAULT_LIMIT
    raw_limit = params.get("limit")
    if raw_limit is not None:
        if raw_limit.isdigit() and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_LIMIT}"))
    before_id = None
    cursor = params.get("cursor")
    if cursor is not None:
        try:
            before_id = decode_cursor(cursor)
        except CursorError as exc:
            errors.append(FieldError("cursor", str(exc)))
    if errors:
        raise validation_problem(errors)
    return PageQuery(EntryFilter(status, dates.created_from, dates.created_to), before_id, limit)


def parse_export_query(params: Mapping[str, str]) -> EntryFilter:
    errors: list[FieldError] = []
    dates = parse_dates(params, errors)
    if errors:
        raise validation_problem(errors)
    return dates
