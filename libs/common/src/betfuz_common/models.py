"""Base classes for every wire model: the one place that says how bodies, queries and answers
are shaped. Pydantic models are the single source of the OpenAPI documents' schemas."""

from __future__ import annotations

import typing
from decimal import Decimal
from functools import cache
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

from betfuz_common.money import CURRENCY, NairaField, to_kobo


class RequestModel(BaseModel):
    """A client's JSON body: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False,
        extra="forbid", frozen=True, strict=False,
    )  # fmt: skip


class QueryModel(BaseModel):
    """Query (or path) parameters: camelCase names, unknown parameters refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False,
        extra="forbid", frozen=True,
    )  # fmt: skip


def _is_money(field: FieldInfo) -> bool:
    if any(isinstance(m, NairaField) for m in field.metadata):
        return True
    # `NairaOut | None`: the marker sits on the Annotated inside the union.
    return any(
        isinstance(m, NairaField)
        for arg in typing.get_args(field.annotation)
        for m in getattr(arg, "__metadata__", ())
    )


@cache
def _money_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(name for name, field in model.model_fields.items() if _is_money(field))


class ResponseModel(BaseModel):
    """What an endpoint answers: camelCase on the wire, built from domain values by the edge
    (`model_validate(value, from_attributes=True)`).

    Every money field (NairaOut) is answered twice: the spec's Naira number, and beside it its
    exact integer kobo (`amount` → `amountKobo`), with the object's `currency`, so a client that
    reads JSON numbers as floats still has the exact value. Done here, once, for every answer.
    """

    # Every field is always present in an answer, defaults included: the schema says so.
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, serialize_by_alias=True, frozen=True,
        json_schema_serialization_defaults_required=True, from_attributes=True,
    )  # fmt: skip

    # No return annotation on purpose: with one, pydantic would take the JSON schema of the
    # answer from it instead of from the fields (the schema hook below adds the companions).
    @model_serializer(mode="wrap")
    def _with_kobo(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        money = _money_fields(type(self))
        for name in money:
            value: Decimal | None = getattr(self, name)
            data[to_camel(name) + "Kobo"] = None if value is None else to_kobo(value)
        if money:
            data["currency"] = CURRENCY
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: cs.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        if handler.mode != "serialization":
            return json_schema
        properties = target.setdefault("properties", {})
        required = target.setdefault("required", [])
        for name in _money_fields(cls):
            optional = type(None) in typing.get_args(cls.model_fields[name].annotation)
            wire = to_camel(name)
            companion = wire + "Kobo"
            properties[wire] = _naming(properties[wire], companion)
            kobo: dict[str, Any] = {"type": "integer", "description": "the exact amount in kobo"}
            properties[companion] = {"anyOf": [kobo, {"type": "null"}]} if optional else kobo
            required.append(companion)
        if _money_fields(cls):
            properties["currency"] = {"$ref": "#/components/schemas/Currency"}
            required.append("currency")
        return json_schema


def _naming(schema: dict[str, Any], companion: str) -> dict[str, Any]:
    """NairaOut's schema points at `<name>Kobo`: in a model the field has a name, and a client
    generated from the document shows this text as the field's documentation."""
    if "anyOf" in schema:  # `NairaOut | None`
        return {**schema, "anyOf": [_naming(branch, companion) for branch in schema["anyOf"]]}
    if "description" not in schema:
        return schema
    return {**schema, "description": schema["description"].replace("<name>Kobo", companion)}


class DomainValue(BaseModel):
    """A value of a service's domain (a purchase, an account): immutable, no wire names."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class NotificationModel(BaseModel):
    """A provider's notification body, in the provider's own field names."""

    model_config = ConfigDict(extra="ignore", frozen=True)
