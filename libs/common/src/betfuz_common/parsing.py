"""Turning what a request carries into validated models; every failure is a 4xx Problem.

Bodies go through the strict JSON reader (exact Decimals, duplicate keys, control characters);
query and path parameters through the same text rule; numbers are ASCII digits only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError
from starlette.requests import Request

from betfuz_common import jsonio
from betfuz_common.errors import (
    MALFORMED_JSON,
    UNSUPPORTED_MEDIA_TYPE,
    FieldError,
    validation_problem,
)
from betfuz_common.text import forbidden_character

M = TypeVar("M", bound=BaseModel)
_ASCII_INT = re.compile(r"[0-9]{1,9}")


def is_json_media_type(content_type: str) -> bool:
    """`application/json`, `application/problem+json`, ... whatever the case or parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def json_object(body: bytes) -> dict[str, Any]:
    """The body as a strict JSON object; 400 otherwise."""
    try:
        data = jsonio.loads(body)
    except jsonio.RefusedText as exc:
        raise validation_problem([FieldError(exc.path, str(exc))]) from None
    except jsonio.JsonError as exc:
        raise MALFORMED_JSON(str(exc)) from None
    if not isinstance(data, dict):
        raise MALFORMED_JSON("expected a JSON object")
    return data


def validated(
    model: type[M], data: Mapping[str, Any], *, context: Mapping[str, Any] | None = None
) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_problem(field_errors(exc)) from None


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in err["loc"]) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        errors.append(FieldError(name, message))
    return errors


def validation_context(request: Request) -> Mapping[str, Any] | None:
    """What a service hands its models' validators (configured bounds), on `app.state`."""
    context: Mapping[str, Any] | None = request.app.state.validation_context
    return context


async def read_body(request: Request, model: type[M]) -> M:
    """A client's JSON body: 415 unless labelled JSON, 400 unless a JSON object, 422 per field."""
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise UNSUPPORTED_MEDIA_TYPE()
    return validated(model, json_object(await request.body()), context=validation_context(request))


def read_query(request: Request, model: type[M]) -> M:
    """Query parameters: each at most once; an empty value is a mistake, not 'no filter'."""
    seen: dict[str, str] = {}
    errors: list[FieldError] = []
    for name, value in request.query_params.multi_items():
        if name in seen:
            errors.append(FieldError(name, "is given more than once"))
        seen[name] = value
    if errors:
        raise validation_problem(errors)
    return validated(model, seen)


def read_path(request: Request, model: type[M]) -> M:
    return validated(model, request.path_params)


def ascii_int(value: Any) -> Any:
    if isinstance(value, str):
        if not _ASCII_INT.fullmatch(value):
            bad = forbidden_character(value)
            raise ValueError(
                f"must be a whole number in ASCII digits{f' ({bad} found)' if bad else ''}"
            )
        return int(value)
    return value


# An integer query parameter: "20" yes; "²", "٢", "+2", " 2", "2.0" no.
AsciiInt = Annotated[int, BeforeValidator(ascii_int)]
