"""OpenAPI 3.1 skeleton shared by the services: health paths and the Problem schema."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
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


def problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def json_content(schema: Mapping[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": dict(schema)}}}


def _status(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["status"], "properties": {"status": {"const": name}}}


def document(
    *,
    title: str,
    prefix: str,
    paths: Mapping[str, Any],
    schemas: Mapping[str, Any] | None = None,
    bearer: bool = True,
) -> dict[str, Any]:
    health_paths = {
        f"{prefix}/health": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": json_content(_status("ok"))},
            }
        },
        f"{prefix}/ready": {
            "get": {
                "summary": "Readiness: the database answers",
                "security": [],
                "responses": {
                    "200": json_content(_status("ready")),
                    "503": problem("A dependency is unreachable"),
                },
            }
        },
    }
    components: dict[str, Any] = {"schemas": {"Problem": PROBLEM_SCHEMA, **(schemas or {})}}
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1.0.0"},
        "paths": {**health_paths, **paths},
        "components": components,
    }
    if bearer:
        components["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        doc["security"] = [{"bearerAuth": []}]
    return doc
