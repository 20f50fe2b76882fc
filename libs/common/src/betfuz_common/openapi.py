"""OpenAPI 3.1 documents generated from the route declarations and their pydantic models.

Nothing here is written by hand per service except what a model cannot say (paths, summaries,
examples live on the declarations). Error responses list, per status, the exact `code`s that
operation can answer: the domain errors it declares (through the service's error map) and what
the edge itself answers for its authentication, parsing and idempotency.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import (
    GenerateJsonSchema,
    JsonSchemaMode,
    JsonSchemaValue,
    models_json_schema,
)
from pydantic_core import core_schema as cs

from betfuz_common.api import Api, Operation
from betfuz_common.errors import (
    CONTENT_TOO_LARGE,
    FORBIDDEN,
    IDEMPOTENCY_IN_FLIGHT,
    IDEMPOTENCY_KEY_REUSED,
    INVALID_SIGNATURE,
    MALFORMED_JSON,
    SERVICE_UNAVAILABLE,
    UNAUTHORIZED,
    UNSUPPORTED_MEDIA_TYPE,
    VALIDATION_FAILED,
    ErrorMap,
    ProblemType,
)
from betfuz_common.idempotency import HEADER as IDEMPOTENCY_HEADER
from betfuz_common.money import CURRENCY

REF = "#/components/schemas/{model}"

CURRENCY_SCHEMA: dict[str, Any] = {"type": "string", "enum": [CURRENCY], "title": "Currency"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; branch on `code`",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}


def document(
    apis: Sequence[Api],
    errors: ErrorMap,
    *,
    title: str,
    description: str,
    server_url: str,
    bearer: bool = True,
) -> dict[str, Any]:
    operations = [op for api in apis for op in api.operations]
    schemas, refs = _components(operations)
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for op in operations:
        paths[op.path][op.method.lower()] = _operation(op, errors, refs, schemas)
    # Parameter models became parameters; they are no schema of their own.
    for op in operations:
        for model in (op.query, op.path_params):
            if model is not None:
                schemas.pop(_name(refs[(model, "validation")]), None)
    tags = sorted({op.tag for op in operations})
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": apis[0].version, "description": description},
        "servers": [{"url": server_url.rstrip("/") or "/"}],
        "tags": [{"name": tag} for tag in tags],
        "paths": dict(paths),
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA, "Currency": CURRENCY_SCHEMA, **schemas}
        },
    }
    if bearer:
        doc["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
    return doc


Refs = Mapping[tuple[type[BaseModel], str], dict[str, Any]]


class _Schemas(GenerateJsonSchema):
    """Pydantic's JSON schemas, with each enum's member names beside its values
    (`x-enum-varnames`, which client generators read): without them a generator invents a name
    for a value that is no identifier ("9mobile" became `VALUE_3`, by its position in the list)."""

    def enum_schema(self, schema: cs.EnumSchema) -> JsonSchemaValue:
        json_schema = super().enum_schema(schema)
        json_schema["x-enum-varnames"] = [member.name for member in schema["members"]]
        return json_schema


def _components(operations: Sequence[Operation]) -> tuple[dict[str, Any], Refs]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
    modes: tuple[tuple[type[BaseModel] | None, JsonSchemaMode], ...]
    for op in operations:
        modes = (
            (op.body, "validation"),
            (op.webhook.body if op.webhook else None, "validation"),
            (op.query, "validation"),
            (op.path_params, "validation"),
            (op.response, "serialization"),
        )
        for model, mode in modes:
            if model is not None and (model, mode) not in wanted:
                wanted.append((model, mode))
    if not wanted:
        return {}, {}
    refs, defs = models_json_schema(wanted, ref_template=REF, schema_generator=_Schemas)
    # (models_json_schema also takes pydantic dataclasses; ours are all BaseModels.)
    by_model: dict[tuple[type[BaseModel], str], dict[str, Any]] = {
        (m, mode): dict(s) for (m, mode), s in refs.items() if issubclass(m, BaseModel)
    }
    return dict(defs.get("$defs", {})), by_model


def _operation(
    op: Operation,
    errors: ErrorMap,
    refs: Refs,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "security": [{"bearerAuth": []}] if op.auth is not None else [],
    }
    if op.description:
        out["description"] = op.description
    parameters = [
        *_parameters(op.path_params, "path", refs, schemas),
        *_parameters(op.query, "query", refs, schemas),
        *(_header(h.name, h.description, h.required, dict(h.schema)) for h in op.headers),
    ]
    if op.idempotent:
        parameters.append(
            _header(
                IDEMPOTENCY_HEADER,
                "replays the first result for 24 h; another body with the same key is 422",
                False,
                {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            )
        )
    if op.webhook is not None:
        parameters.append(
            _header(op.webhook.signature_header, op.webhook.signature, True, {"type": "string"})
        )
    if parameters:
        out["parameters"] = parameters
    body = op.body or (op.webhook.body if op.webhook else None)
    if body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(body, "validation")]}},
        }
    out["responses"] = {
        str(op.status): _success(op, refs),
        **_problems(_problem_types(op, errors), schemas),
    }
    return out


def _name(ref: Mapping[str, Any]) -> str:
    return str(ref["$ref"]).rsplit("/", 1)[1]


def _parameters(
    model: type[BaseModel] | None,
    where: str,
    refs: Refs,
    schemas: Mapping[str, Any],
) -> list[dict[str, Any]]:
    if model is None:
        return []
    own = schemas[_name(refs[(model, "validation")])]
    required = set(own.get("required", []))
    return [
        {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": _not_null(schema),
            **({"description": schema["description"]} if "description" in schema else {}),
        }
        for name, schema in own.get("properties", {}).items()
    ]


def _not_null(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A parameter is given or absent, never null: `X | None` is published as X."""
    plain = {k: v for k, v in schema.items() if k != "title"}
    branches = plain.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1:
            del plain["anyOf"]
            plain = {**kept[0], **plain}
    return plain


def _header(name: str, description: str, required: bool, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": schema,
    }


def _success(op: Operation, refs: Refs) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": op.summary}
    if op.response is not None:
        answer["content"] = {op.media_type: {"schema": refs[(op.response, "serialization")]}}
    elif op.media_type != "application/json":
        answer["content"] = {op.media_type: {"schema": {"type": "string"}}}
    headers = dict(op.response_headers)
    if op.idempotent:
        headers["Idempotent-Replayed"] = "`true` when this is the stored first result"
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


def _problem_types(op: Operation, errors: ErrorMap) -> list[ProblemType]:
    found: list[ProblemType] = []
    if op.auth is not None:
        found += [UNAUTHORIZED, FORBIDDEN]
    if op.webhook is not None:
        found += [INVALID_SIGNATURE, MALFORMED_JSON, CONTENT_TOO_LARGE, VALIDATION_FAILED]
    if op.body is not None:
        found += [MALFORMED_JSON, CONTENT_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, VALIDATION_FAILED]
    if op.query is not None or op.path_params is not None or op.headers:
        found.append(VALIDATION_FAILED)
    if op.idempotent:
        found += [IDEMPOTENCY_IN_FLIGHT, IDEMPOTENCY_KEY_REUSED, VALIDATION_FAILED]
    for exc in op.errors:
        mapped = errors.get(exc)
        if mapped is None:
            raise ValueError(f"{op.operation_id} declares {exc.__name__}, which no error maps")
        found.append(mapped)
    found.append(SERVICE_UNAVAILABLE)
    return found


def _problems(types: Iterable[ProblemType], schemas: dict[str, Any]) -> dict[str, Any]:
    by_status: dict[int, dict[str, ProblemType]] = defaultdict(dict)
    for problem in types:
        by_status[problem.status][problem.code] = problem
    responses: dict[str, Any] = {}
    for status in sorted(by_status):
        codes = by_status[status]
        headers = {name for p in codes.values() for name in p.headers}
        response: dict[str, Any] = {
            "description": "; ".join(sorted({p.title for p in codes.values()})),
            "content": {"application/problem+json": {"schema": _problem_component(codes, schemas)}},
        }
        if headers:
            response["headers"] = {name: {"schema": {"type": "string"}} for name in sorted(headers)}
        responses[str(status)] = response
    return responses


def _problem_component(codes: Mapping[str, ProblemType], schemas: dict[str, Any]) -> dict[str, str]:
    """A Problem whose `code` is one of `codes`, as a shared component: operations answering
    the same codes share one schema (and a generated client one class)."""
    name = "Problem" + "Or".join(
        "".join(part.title() for part in code.split("_")) for code in sorted(codes)
    )
    if name not in schemas:
        properties: dict[str, Any] = {"code": {"type": "string", "enum": sorted(codes)}}
        for problem in codes.values():
            for member, schema in problem.members.items():
                properties[member] = {"$ref": REF.format(model=schema)}
        schemas[name] = {
            "title": name,
            "allOf": [
                {"$ref": "#/components/schemas/Problem"},
                {"type": "object", "properties": properties},
            ],
        }
    return {"$ref": REF.format(model=name)}
