"""HTTP edge: authenticate, parse, call the service, map errors. Compliance/admin only."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from betfuz_common.auth import JwtVerifier, Principal, require_role
from betfuz_common.errors import Problem, bad_gateway
from betfuz_common.logging import get_logger
from betfuz_common.web import JsonResponse
from ledger import service
from ledger.schemas import parse_export_query, parse_page_query

READER_ROLES = ("compliance", "admin")
log = get_logger("ledger.routes")


async def _reader(request: Request) -> Principal:
    verifier: JwtVerifier = request.app.state.verifier
    principal = await verifier.from_header(request.headers.get("authorization"))
    return require_role(principal, READER_ROLES)


async def list_entries(request: Request) -> Response:
    await _reader(request)
    query = parse_page_query(request.query_params)
    return JsonResponse(await service.list_entries(request.app.state.pool, query))


async def get_entry(request: Request) -> Response:
    await _reader(request)
    bet_slip_id = request.path_params["bet_slip_id"]
    return JsonResponse(await service.get_entry(request.app.state.pool, bet_slip_id))


async def export_csv(request: Request) -> Response:
    await _reader(request)
    filters = parse_export_query(request.query_params)
    return StreamingResponse(
        service.export_csv(request.app.state.pool, filters),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="ledger-export.csv"',
            "Cache-Control": "no-store",
        },
    )


async def verify(request: Request) -> Response:
    await _reader(request)
    bet_slip_id = request.path_params["bet_slip_id"]
    open_chain = request.app.state.chain_factory
    if open_chain is None:
        raise Problem(503, "Chain not configured", detail="LEDGER_CONTRACT_ADDRESS is not set")
    try:
        return JsonResponse(await service.verify(request.app.state.pool, open_chain, bet_slip_id))
    except Problem:
        raise
    except Exception as exc:  # noqa: BLE001 - any chain failure is the upstream's, said as 502
        log.warning("ledger_verify_chain_error", error=type(exc).__name__)
        raise bad_gateway("the chain node could not be read") from None


ROUTES = [
    Route("/ledger/entries", list_entries, methods=["GET"]),
    Route("/ledger/entries/{bet_slip_id}", get_entry, methods=["GET"]),
    Route("/ledger/export.csv", export_csv, methods=["GET"]),
    Route("/ledger/verify/{bet_slip_id}", verify, methods=["GET"]),
]
