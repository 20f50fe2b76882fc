"""The ledger HTTP edge: module-level functions, each parse → service → response. Compliance
and admin only: the ledger is the regulator's view."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import StreamingResponse

from betfuz_common.api import Api, ports_of
from betfuz_common.auth import requires
from betfuz_common.pagination import page_of
from ledger import schemas, service
from ledger.errors import ChainNotConfigured, ChainUnavailable, EntryNotFound
from ledger.ports import LedgerPorts

api = Api(
    title="Betfuz ledger",
    description="Settled wins of at least ₦1,000,000, recorded on Polygon through BetLedger: "
    "the entries, a CSV export for compliance, and a check of each entry against the chain.",
    tag="Ledger",
    auth=requires("compliance", "admin"),
)
CSV_HEADERS = {
    "Content-Disposition": 'attachment; filename="ledger-export.csv"',
    "Cache-Control": "no-store",
}


@api.get("/ledger/entries")
async def list_ledger_entries(request: Request, query: schemas.EntryQuery) -> schemas.EntryPage:
    """Ledger entries, newest first."""
    ports, before = ports_of(request, LedgerPorts), query.after(service.PageKey)
    chunk = await service.list_entries(ports, query.filters(query.status), query.limit, before)
    return page_of(chunk, schemas.EntryView.model_validate, schemas.EntryPage)


@api.get("/ledger/entries/{betSlipId}", errors=(EntryNotFound,))
async def get_ledger_entry(request: Request, path: schemas.EntryPath) -> schemas.EntryView:
    """The entry of one bet slip."""
    entry = await service.get_entry(ports_of(request, LedgerPorts), path.bet_slip_id)
    return schemas.EntryView.model_validate(entry)


@api.get("/ledger/export.csv", media_type="text/csv")
async def export_ledger_csv(request: Request, query: schemas.ExportQuery) -> StreamingResponse:
    """Confirmed entries as CSV (the spec's columns), oldest first, streamed."""
    chunks = service.export_csv(ports_of(request, LedgerPorts), query.filters())
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers=CSV_HEADERS)


@api.get("/ledger/verify/{betSlipId}", errors=(EntryNotFound, ChainNotConfigured, ChainUnavailable))
async def verify_ledger_entry(
    request: Request, path: schemas.EntryPath
) -> schemas.VerificationView:
    """Compare an entry with what the chain holds for its bet."""
    found = await service.verify(ports_of(request, LedgerPorts), path.bet_slip_id)
    return schemas.VerificationView.of(found)
