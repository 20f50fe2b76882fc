"""RFC 9457 problem details: the one error shape every endpoint answers with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://errors.betfuz.com/"


@dataclass
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class Problem(Exception):
    """Raised anywhere below the routes; the web adapter turns it into problem+json."""

    status: int
    title: str
    detail: str | None = None
    code: str | None = None
    errors: Sequence[FieldError] = field(default_factory=list)
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        slug = self.code or self.title.lower().replace(" ", "_")
        doc: dict[str, Any] = {
            "type": TYPE_BASE + slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
        }
        if self.code:
            doc["code"] = self.code
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = [err.as_dict() for err in self.errors]
        doc.update(self.extra)
        return doc


def validation_problem(errors: Sequence[FieldError]) -> Problem:
    names = ", ".join(err.field for err in errors)
    return Problem(
        422,
        "Validation failed",
        detail=f"invalid fields: {names}",
        code="validation_failed",
        errors=errors,
    )


def unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorized",
        detail=detail,
        code="unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="betfuz"'},
    )


def forbidden(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail=detail, code="forbidden")


def not_found(detail: str) -> Problem:
    return Problem(404, "Not found", detail=detail, code="not_found")


def bad_gateway(detail: str, *, timeout: bool = False) -> Problem:
    if timeout:
        return Problem(504, "Gateway timeout", detail=detail, code="provider_timeout")
    return Problem(502, "Bad gateway", detail=detail, code="provider_error")
