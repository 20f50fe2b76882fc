"""structlog logs with a request id and a processor that keeps secrets and BVNs out.

One format per destination: JSON lines when stdout is a file, a pipe or a log collector (every
deployed service), a readable line per event when it is a terminal. `LOG_FORMAT=json|console`
forces either; colour only on a terminal and never with `NO_COLOR` set.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, TextIO

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


LogFormat = Literal["json", "console"]
LOG_FORMATS = ("json", "console")


def log_format(stream: TextIO, environ: Mapping[str, str] = os.environ) -> LogFormat:
    """LOG_FORMAT when it names a format; otherwise console on a terminal, JSON anywhere else."""
    wanted = environ.get("LOG_FORMAT", "").strip().lower()
    if wanted == "json":
        return "json"
    if wanted == "console" or _isatty(stream):
        return "console"
    return "json"


def use_colour(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Colour codes only for a person at a terminal (https://no-color.org: any NO_COLOR value)."""
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty())


# Keys the console line shows in its own place (or, for the logger name, leaves to the files).
_CONSOLE_FIXED = frozenset({"timestamp", "level", "event", "logger", "exception", "stack"})
_LEVEL_COLOURS = {"warning": "33", "error": "31", "critical": "31;1", "debug": "2"}


def render_console(event_dict: Mapping[str, Any], *, colour: bool = False) -> str:
    """`HH:MM:SS level event key=value ...`, then the traceback, if any, on the lines after."""

    def paint(code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if colour and code else text

    level = str(event_dict.get("level", "info")).lower()
    parts = [
        _clock(event_dict.get("timestamp")),
        paint(_LEVEL_COLOURS.get(level, ""), f"{level:<7}"),
        paint("1", str(event_dict.get("event", ""))),
    ]
    parts += [
        f"{paint('2', str(key) + '=')}{_console_value(value)}"
        for key, value in event_dict.items()
        if key not in _CONSOLE_FIXED
    ]
    line = " ".join(part for part in parts if part)
    for key in ("exception", "stack"):
        if event_dict.get(key):
            line += "\n" + paint("31" if key == "exception" else "", str(event_dict[key]).rstrip())
    return line


def _clock(timestamp: Any) -> str:
    """The record's UTC timestamp as the reader's local wall-clock time, to the second."""
    if not isinstance(timestamp, str):
        return ""
    try:
        return datetime.fromisoformat(timestamp).astimezone().strftime("%H:%M:%S")
    except ValueError:
        return timestamp


def _console_value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and not any(c.isspace() or c in '"=' for c in value) else repr(value)
    if isinstance(value, dict | list | tuple):
        return _json_line(value)
    return str(value)


def _console_processor(colour: bool) -> Any:
    def render(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> str:
        return render_console(event_dict, colour=colour)

    return render


def configure_logging(
    level: str = "INFO",
    *,
    stream: TextIO | None = None,
    fmt: LogFormat | None = None,
    environ: Mapping[str, str] = os.environ,
) -> None:
    """structlog and the stdlib loggers (uvicorn, asyncpg) through one redaction and one renderer
    to `stream` (stdout): one handler on the root logger, so every record is written once."""
    out = stream if stream is not None else sys.stdout
    chosen = fmt or log_format(out, environ)
    renderer: Any = (
        _console_processor(use_colour(out, environ))
        if chosen == "console"
        else structlog.processors.JSONRenderer(serializer=_json_line)
    )
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared_processors(), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared_processors()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    # uvicorn's own loggers write through the root handler above; a handler of their own (from a
    # dictConfig run before us) would print each of their records a second time, and a dictConfig's
    # or a level of its own would have silenced them: the root's level decides.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
        uvicorn_logger.disabled = False
        uvicorn_logger.setLevel(logging.NOTSET)
    # Our access middleware writes one line per request; uvicorn's own would duplicate it.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO ("HTTP Request: POST ..."); each provider client already
    # writes its own line with the outcome and the duration, so that one is a costly duplicate.
    # web3's providers log every connection they close at INFO. Warnings and errors still come
    # through.
    for name in ("httpx", "httpcore", "web3.providers"):
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
    wanted = environ.get("LOG_FORMAT", "").strip().lower()
    if wanted not in ("", "auto", *LOG_FORMATS):
        get_logger("betfuz.logging").warning(
            "log_format_unknown", value=wanted[:32], expected="json, console or auto", used=chosen
        )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
