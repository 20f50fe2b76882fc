"""Routes as module-level functions, declared once with what the OpenAPI document needs.

    api = Api(title="Betfuz topup", description="...", tag="Topups", auth=requires())

    @api.post("/topup", status=201, errors=(InsufficientFunds,), idempotent=True)
    async def create_topup(request: Request, body: TopupRequest) -> Reply[TopupCreated]:
        '''Buy airtime or data from the caller's wallet.'''

The handler itself is most of the declaration: its name is the operationId (camelCase), its
docstring the summary (and description), and its annotations say what it takes and answers —
`path`, `query` and `body` models, a response model (or `Reply[Model]`). The route layer
authenticates (`auth`), parses those into their models and passes them as keyword arguments,
and renders what the function returns; the OpenAPI document is generated from the same
declarations and models. A handler may also return any Starlette `Response` (a CSV stream).
"""

from __future__ import annotations

import inspect
import typing
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from betfuz_common import jsonio
from betfuz_common.auth import Access, Principal
from betfuz_common.errors import METHOD_NOT_ALLOWED
from betfuz_common.parsing import read_body, read_path, read_query

Handler = Callable[..., Awaitable[Any]]
T = TypeVar("T")
R = TypeVar("R", bound=BaseModel)
_UNSET: Any = object()


@dataclass(frozen=True)
class Header:
    """A request header an operation reads (documented; the handler parses it)."""

    name: str
    description: str
    required: bool = False
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class Webhook:
    """A provider notification: signature header and body model, parsed by the WebhookGate."""

    signature_header: str
    body: type[BaseModel]
    signature: str  # how the signature is made, for the document


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    tag: str
    auth: Access | None = None  # None: no bearer token (health, webhooks)
    path_params: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    webhook: Webhook | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    media_type: str = "application/json"
    errors: tuple[type[Exception], ...] = ()
    headers: tuple[Header, ...] = ()
    response_headers: Mapping[str, str] = field(default_factory=dict)  # name -> description
    idempotent: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Reply(Generic[R]):
    """A response model with what the declaration cannot know in advance."""

    body: R
    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def render(model: BaseModel, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        jsonio.dumps(model.model_dump(mode="python", by_alias=True)),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def ports_of(request: Request, kind: type[T]) -> T:
    """The service's ports, which its lifespan put on `app.state.ports`."""
    ports = request.app.state.ports
    assert isinstance(ports, kind), f"app.state.ports is not {kind.__name__}"
    return ports


def caller(request: Request) -> Principal:
    """The verified caller of a route declared with `auth=requires(...)`."""
    user = request.scope.get("user")
    assert isinstance(user, Principal), "route declared without auth"
    return user


def _endpoint(operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        if operation.auth is not None:
            operation.auth.check(request)
        kwargs: dict[str, Any] = {}
        if operation.path_params is not None:
            kwargs["path"] = read_path(request, operation.path_params)
        if operation.query is not None:
            kwargs["query"] = read_query(request, operation.query)
        if operation.body is not None:
            kwargs["body"] = await read_body(request, operation.body)
        result = await operation.handler(request, **kwargs)
        if isinstance(result, Response):
            return result
        if isinstance(result, Reply):
            return render(result.body, result.status or operation.status, result.headers)
        assert isinstance(result, BaseModel), f"{operation.operation_id} returned {result!r}"
        return render(result, operation.status)

    return endpoint


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _response_model(returned: Any) -> type[BaseModel] | None:
    if typing.get_origin(returned) is Reply:
        (returned,) = typing.get_args(returned)
    is_model = isinstance(returned, type) and issubclass(returned, BaseModel)
    return returned if is_model else None


class Api:
    """The operations of one document (a service's client API, or its provider webhooks);
    `tag` and `auth` are what its operations have unless they say otherwise."""

    def __init__(
        self,
        *,
        title: str,
        description: str,
        tag: str,
        auth: Access | None = None,
        version: str = "1.0.0",
    ) -> None:
        self.title = title
        self.description = description
        self.tag = tag
        self.auth = auth
        self.version = version
        self.operations: list[Operation] = []

    def operation(
        self, method: str, path: str, *, auth: Access | None = _UNSET, **spec: Any
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            hints = typing.get_type_hints(handler)
            summary, _, description = (inspect.getdoc(handler) or "").partition("\n\n")
            operation = Operation(
                method,
                path,
                handler,
                operation_id=_camel(handler.__name__),
                summary=summary.replace("\n", " ").rstrip("."),
                description=description.replace("\n", " ") or None,
                tag=spec.pop("tag", self.tag),
                auth=self.auth if auth is _UNSET else auth,
                path_params=hints.get("path"),
                query=hints.get("query"),
                body=hints.get("body"),
                response=_response_model(hints.get("return")),
                **spec,
            )
            self.operations.append(operation)
            return handler

        return register

    def get(self, path: str, **spec: Any) -> Callable[[Handler], Handler]:
        return self.operation("GET", path, **spec)

    def post(self, path: str, **spec: Any) -> Callable[[Handler], Handler]:
        return self.operation("POST", path, **spec)

    def extended(self, other: Api) -> Api:
        """This document with another collection's operations added (the shared ops API)."""
        combined = Api(
            title=self.title,
            description=self.description,
            tag=self.tag,
            auth=self.auth,
            version=self.version,
        )
        combined.operations = [*self.operations, *other.operations]
        return combined

    def routes(self) -> list[BaseRoute]:
        """One Starlette route per path, so that a 405 lists every method the path allows."""
        by_path: dict[str, dict[str, Operation]] = defaultdict(dict)
        for operation in self.operations:
            by_path[operation.path][operation.method] = operation
        return [_route(path, methods) for path, methods in by_path.items()]


def _route(path: str, operations: Mapping[str, Operation]) -> Route:
    endpoints = {method: _endpoint(op) for method, op in operations.items()}
    allowed = ", ".join(sorted(endpoints))

    async def dispatch(request: Request) -> Response:
        # Starlette admits HEAD wherever GET is declared; it is answered as the GET.
        method = "GET" if request.method == "HEAD" else request.method
        endpoint = endpoints.get(method)
        if endpoint is None:
            raise _not_allowed(allowed)
        return await endpoint(request)

    return Route(path, dispatch, methods=sorted(endpoints))


def _not_allowed(allowed: str) -> Exception:
    problem = METHOD_NOT_ALLOWED(f"allowed: {allowed}")
    problem.headers = {"Allow": allowed}
    return problem


def provider_api(service: str, provider: str, what: str) -> Api:
    """The document of what a provider calls on a service (its own, apart from the clients')."""
    return Api(
        title=f"Betfuz {service}: provider callbacks",
        description=f"What {provider} calls: {what}, signed over the raw body.",
        tag="Provider callbacks",
    )
