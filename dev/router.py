"""Local stand-in for the load balancer: routes /topup*, /treasury*, /ledger* by path prefix."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

# Same rules as the ALB listener: a path matches `/name` and `/name/...` (and `/name*`).
DEFAULT_UPSTREAMS = {
    "/topup": "http://127.0.0.1:8001",
    "/treasury": "http://127.0.0.1:8002",
    "/ledger": "http://127.0.0.1:8003",
}


def upstreams_from_env() -> dict[str, str]:
    """TOPUP_URL, TREASURY_URL, LEDGER_URL override the local ports (compose uses them)."""
    return {
        prefix: os.environ.get(f"{prefix.strip('/').upper()}_URL", target)
        for prefix, target in DEFAULT_UPSTREAMS.items()
    }


_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length"}


def pick_upstream(path: str, upstreams: Mapping[str, str]) -> str | None:
    for prefix, target in upstreams.items():
        if path.startswith(prefix):
            return target
    return None


def create_router(upstreams: Mapping[str, str]) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(65.0)) as client:
            app.state.client = client
            yield

    async def proxy(request: Request) -> Response:
        target = pick_upstream(request.url.path, upstreams)
        if target is None:
            return JSONResponse(
                {"type": "about:blank", "title": "Not found", "status": 404, "detail": "no route"},
                status_code=404,
                media_type="application/problem+json",
            )
        client: httpx.AsyncClient = request.app.state.client
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        headers.append(("x-forwarded-for", request.client.host if request.client else ""))
        upstream = client.build_request(
            request.method,
            target + request.url.path,
            params=request.url.query,
            headers=headers,
            content=await request.body(),
        )
        try:
            answer = await client.send(upstream, stream=True)
        except httpx.HTTPError:
            return JSONResponse(
                {"type": "about:blank", "title": "Bad gateway", "status": 502, "detail": target},
                status_code=502,
                media_type="application/problem+json",
            )
        out_headers = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP}
        return StreamingResponse(
            answer.aiter_raw(),
            status_code=answer.status_code,
            headers=out_headers,
            background=BackgroundTask(answer.aclose),
        )

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[Route("/{path:path}", proxy, methods=methods)], lifespan=lifespan)


def main() -> None:
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    uvicorn.run(create_router(upstreams_from_env()), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
