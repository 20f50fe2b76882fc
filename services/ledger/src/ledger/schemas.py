"""The ledger API's wire models: the one source of its queries, answers and OpenAPI schemas."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from betfuz_common.models import QueryModel, ResponseModel
from betfuz_common.money import NairaOut, from_kobo
from betfuz_common.pagination import Page, PageQuery
from betfuz_common.text import CleanStr
from betfuz_common.timestamps import Timestamp, plausible
from ledger.domain import EntryFilter, EntryStatus, OnChain, Verification

DAY_OR_MOMENT = {
    "type": "string",
    "description": "ISO 8601 date (the whole UTC day) or date-time (naive is UTC)",
    "examples": ["2025-01-15", "2025-01-15T14:30:00Z"],
}
BetSlipId = Annotated[CleanStr, Field(min_length=1, max_length=128)]


def _moment(text: object, *, end_of_day: bool) -> datetime:
    """A bare date is that whole UTC day; a naive date-time is UTC; a '+' a query string
    decoded to a space is read back as the offset sign."""
    if not isinstance(text, str):
        raise ValueError("must be an ISO 8601 date or date-time")
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise ValueError("must be an ISO 8601 date or date-time") from None
    plausible(moment)  # the days a compliance officer means
    return moment + timedelta(days=1) if end_of_day and len(text) == 10 else moment


class ExportQuery(QueryModel):
    from_: Annotated[str | None, Field(alias="from", json_schema_extra=DAY_OR_MOMENT)] = None
    to: Annotated[str | None, Field(json_schema_extra=DAY_OR_MOMENT)] = None

    @field_validator("from_", "to")
    @classmethod
    def _dates(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        moment = _moment(value, end_of_day=info.field_name == "to")
        if info.field_name == "to":
            start = info.data.get("from_")
            if start is not None and _moment(start, end_of_day=False) >= moment:
                raise ValueError("must be after 'from'")
        return value

    def filters(self, status: EntryStatus | None = None) -> EntryFilter:
        return EntryFilter(
            status,
            None if self.from_ is None else _moment(self.from_, end_of_day=False),
            None if self.to is None else _moment(self.to, end_of_day=True),
        )


class EntryQuery(ExportQuery, PageQuery):
    status: EntryStatus | None = None


class EntryPath(QueryModel):
    bet_slip_id: BetSlipId


class EntryView(ResponseModel):
    """The spec's ledger entry."""

    bet_slip_id: str
    bet_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the id")]
    win_amount: NairaOut
    tx_hash: str | None
    block_number: int | None
    network: str
    status: EntryStatus
    created_at: Timestamp


class EntryPage(Page[EntryView]):
    pass


class Checks(ResponseModel):
    bet_hash: bool
    recorded_on_chain: bool
    amount: bool
    tx_hash: bool
    block_number: bool
    status_confirmed: bool


class OnChainView(ResponseModel):
    """What the contract holds for the bet (the record's fields are null when it holds none)."""

    contract_address: str
    bet_hash: str
    exists: bool
    win_amount: NairaOut | None
    recorded_at: Timestamp | None
    recorder: str | None
    tx_hash: str | None
    block_number: int | None

    @classmethod
    def of(cls, chain: OnChain) -> OnChainView:
        record = chain.record
        return cls(
            contract_address=chain.contract_address,
            bet_hash=chain.bet_hash,
            exists=record is not None,
            win_amount=None if record is None else from_kobo(record.amount_kobo),
            recorded_at=None if record is None else datetime.fromtimestamp(record.recorded_at, UTC),
            recorder=None if record is None else record.recorder,
            tx_hash=chain.tx_hash,
            block_number=chain.block_number,
        )


class DatabaseView(ResponseModel):
    """The entry as our books hold it."""

    bet_hash: str
    win_amount: NairaOut
    tx_hash: str | None
    block_number: int | None
    network: str
    status: EntryStatus


class VerificationView(ResponseModel):
    bet_slip_id: str
    verified: bool
    checks: Checks
    on_chain: OnChainView
    database: DatabaseView

    @classmethod
    def of(cls, found: Verification) -> VerificationView:
        return cls(
            bet_slip_id=found.entry.bet_slip_id,
            verified=found.verified,
            checks=Checks.model_validate(found.checks),
            on_chain=OnChainView.of(found.on_chain),
            database=DatabaseView.model_validate(found.entry),
        )
