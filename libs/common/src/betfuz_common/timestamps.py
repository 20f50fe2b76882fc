"""One timestamp format on the wire: RFC 3339, UTC, to the second ("2025-01-15T14:30:00Z"); and
one window for the moments we are given."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, WithJsonSchema

# The moments a person or a bank means: nothing before the platform, nothing past this century.
# Beyond it lie moments that cannot even be bound to a query (year 1 at +23:59 is year 0 in UTC:
# a 500 where a 422 was due).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps on the wire need a time zone")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plausible(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError("must be from 2000-01-01 and before 2100-01-01")
    return moment


def utc_now() -> datetime:
    return datetime.now(UTC)


Timestamp = Annotated[
    datetime,
    PlainSerializer(rfc3339),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC, to the second",
            "examples": ["2025-01-15T14:30:00Z"],
        }
    ),
]

# A moment a client or a provider gives us, with its offset, inside the window.
PlausibleMoment = Annotated[AwareDatetime, AfterValidator(plausible)]
