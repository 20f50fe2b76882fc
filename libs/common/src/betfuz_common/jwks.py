"""Signing keys from a JWKS URL, fetched without blocking the event loop.

Keys are cached; the set is fetched again when it is older than `ttl_seconds`, or when a token
names a key id we do not know (a rotation) — but at most once per `min_refresh_seconds`, so a
stream of tokens with made-up key ids cannot make us hammer the identity provider.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt

from betfuz_common.logging import get_logger

log = get_logger("betfuz.jwks")


class JwksKeys:
    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = 300,
        min_refresh_seconds: float = 30,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        self._ttl = ttl_seconds
        self._min_refresh = min_refresh_seconds
        self._transport = transport
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> Any | None:
        age = time.monotonic() - self._fetched_at
        if age > self._ttl or (kid not in self._keys and age > self._min_refresh):
            await self._refresh()
        return self._keys.get(kid) if kid is not None else None

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at <= self._min_refresh:
                return  # another request refreshed while we waited for the lock
            self._fetched_at = time.monotonic()
            try:
                async with httpx.AsyncClient(transport=self._transport, timeout=5) as http:
                    response = await http.get(self._url)
                    response.raise_for_status()
                    keys = jwt.PyJWKSet.from_dict(response.json()).keys
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
                # Keep the keys we had: an identity provider hiccup must not log everyone out.
                log.warning("jwks_refresh_failed", error=type(exc).__name__)
                return
            self._keys = {k.key_id: k.key for k in keys if k.key_id}
