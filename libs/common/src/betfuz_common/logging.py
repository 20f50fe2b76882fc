"""structlog JSON logs with a request id and a processor that keeps secrets and BVNs out."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from functools import lru_cache
from typing import Any

import orjson
import structlog

REDACTED = "[REDACTED]"

_SENSITIVE_KEY = re.compile(
    r"(secret|token|password|passwd|authorization|bvn|private_key|api_key|apikey|pin|signature"
    r"|cookie|dsn|database_url)",
    re.IGNORECASE,
)
# Values that are sensitive wherever they appear: bearer tokens, JWTs, 11-digit BVNs,
# credentials inside connection URLs.
_SENSITIVE_VALUE = (
    (re.compile(r"(?i)\b(bearer|selcom|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    (re.compile(r"(?<![\d.])\d{11}(?![\d.])"), "*" * 11),
    (re.compile(r"(://[^:/@\s]+:)[^@\s]+@"), r"\1" + REDACTED + "@"),
)
# One scan that every string matching any pattern above also matches (a superset: a scheme
# word before whitespace, "eyJ", eleven digits in a row, "://"). Most log values match none of
# it, so they skip the four substitutions; the rest go through all of them as before.
_MAYBE_SENSITIVE = re.compile(r"(?i:bearer|selcom|basic)\s|eyJ|\d{11}|://")
# Values that can hold no secret: nothing to scan.
_PLAIN = (int, float, bool, type(None))


@lru_cache(maxsize=1024)
def _sensitive_key(key: str) -> bool:
    # Log keys come from the code, a small fixed set; the answer for each is computed once.
    return _SENSITIVE_KEY.search(key) is not None


def redact_value(value: str) -> str:
    if _MAYBE_SENSITIVE.search(value) is None:
        return value
    for pattern, replacement in _SENSITIVE_VALUE:
        value = pattern.sub(replacement, value)
    return value


def _redact(obj: Any) -> Any:
    if isinstance(obj, str):
        return redact_value(obj)
    if isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, Mapping):
        return {
            key: REDACTED if _sensitive_key(str(key)) else _redact(value)
            for key, value in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_redact(item) for item in obj]
    return obj


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: sensitive keys are replaced, sensitive values masked anywhere."""
    for key, value in event_dict.items():
        if _sensitive_key(key):
            event_dict[key] = REDACTED
        elif not isinstance(value, _PLAIN):
            event_dict[key] = _redact(value)
    return event_dict


def shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]


def _json_line(event: Any, **_: Any) -> str:
    # orjson: several times faster than json.dumps on the per-request access line; anything it
    # cannot encode natively (Decimal, UUID, exceptions) is written as its str().
    return orjson.dumps(event, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stdout; stdlib loggers (uvicorn, asyncpg) go through the same redaction."""
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared_processors(), structlog.processors.JSONRenderer(serializer=_json_line)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(serializer=_json_line),
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # Our access middleware writes one line per request; uvicorn's own would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO ("HTTP Request: POST ..."); each provider client already
    # writes its own line with the outcome and the duration, so that one is a costly duplicate.
    # Warnings and errors still come through.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
