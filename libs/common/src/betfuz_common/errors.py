"""RFC 9457 problem details: the one error shape every endpoint answers with.

Services raise domain exceptions that know nothing of HTTP; each service hands
`create_service_app` one error map (exception type -> ProblemType) and the edge turns a raised
exception into its problem. The shared ProblemTypes below are what the framework itself answers.
Every problem carries a stable `code`: clients branch on it, never on `title` or `detail`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    """Raised at the edge (parsing, authentication) and made from domain errors by the map."""

    status: int
    title: str
    code: str
    detail: str | None = None
    errors: Sequence[FieldError] = field(default_factory=list)
    extra: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "type": TYPE_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
            "code": self.code,
        }
        if instance:
            doc["instance"] = instance
        if self.errors:
            doc["errors"] = [err.as_dict() for err in self.errors]
        doc.update(self.extra)
        return doc


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: what the edge answers for an exception mapped to it."""

    status: int
    code: str
    title: str
    detail: str | None = None  # None: the exception's own message
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Callable[[Exception], Mapping[str, Any]] | None = None
    # Members `extra` adds, by name, and the component schema each one has (for the document).
    members: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, detail: str | None = None, *, errors: Sequence[FieldError] = ()) -> Problem:
        return Problem(
            self.status,
            self.title,
            self.code,
            detail or self.detail,
            errors=errors,
            headers=dict(self.headers),
        )

    def from_exception(self, exc: Exception) -> Problem:
        problem = self(self.detail or str(exc) or self.title)
        if self.extra is not None:
            problem.extra = self.extra(exc)  # noqa: S610 - problem members, not Django
        return problem


ErrorMap = Mapping[type[Exception], ProblemType]


def problem_type_for(exc: Exception, errors: ErrorMap) -> ProblemType | None:
    """The mapped type of `exc` or of its nearest mapped base class."""
    for klass in type(exc).__mro__:
        if klass in errors:
            return errors[klass]
    return None


# What the framework answers by itself, whatever the service.
BAD_REQUEST = ProblemType(400, "bad_request", "Bad request")
MALFORMED_JSON = ProblemType(400, "malformed_json", "Malformed JSON")
UNAUTHORIZED = ProblemType(
    401, "unauthorized", "Unauthorized", headers={"WWW-Authenticate": 'Bearer realm="betfuz"'}
)
INVALID_SIGNATURE = ProblemType(
    401, "invalid_signature", "Unauthorized", "missing or invalid webhook signature"
)
FORBIDDEN = ProblemType(403, "forbidden", "Forbidden")
NOT_FOUND = ProblemType(404, "not_found", "Not found")
METHOD_NOT_ALLOWED = ProblemType(405, "method_not_allowed", "Method not allowed")
IDEMPOTENCY_IN_FLIGHT = ProblemType(
    409,
    "idempotency_in_flight",
    "Request in progress",
    "a request with this Idempotency-Key is still being processed; retry shortly",
    headers={"Retry-After": "1"},
)
CONTENT_TOO_LARGE = ProblemType(413, "content_too_large", "Content too large")
UNSUPPORTED_MEDIA_TYPE = ProblemType(
    415, "unsupported_media_type", "Unsupported media type", "send application/json"
)
VALIDATION_FAILED = ProblemType(422, "validation_failed", "Validation failed")
IDEMPOTENCY_KEY_REUSED = ProblemType(
    422,
    "idempotency_key_reused",
    "Idempotency key reused",
    "this Idempotency-Key was used with a different request body",
)
INTERNAL_ERROR = ProblemType(
    500, "internal_error", "Internal server error", "an unexpected error occurred"
)
PROVIDER_ERROR = ProblemType(502, "provider_error", "Bad gateway")
SERVICE_UNAVAILABLE = ProblemType(
    503,
    "service_unavailable",
    "Service unavailable",
    "a dependency is unreachable; retry shortly",
    headers={"Retry-After": "2"},
)
PROVIDER_TIMEOUT = ProblemType(504, "provider_timeout", "Gateway timeout")


class WalletNotFound(Exception):
    """The token names a user the core platform has no wallet (users row) for."""


WALLET_NOT_FOUND = ProblemType(
    404, "wallet_not_found", "Wallet not found", "no Betfuz wallet matches this token"
)
# Domain errors more than one service raises, mapped once.
SHARED_ERRORS: ErrorMap = {WalletNotFound: WALLET_NOT_FOUND}


def validation_problem(errors: Sequence[FieldError]) -> Problem:
    names = ", ".join(err.field for err in errors)
    return VALIDATION_FAILED(f"invalid fields: {names}", errors=errors)
