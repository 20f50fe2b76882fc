"""What the edge fuzz sends, and how: the operations the apps' own OpenAPI documents declare, the
values no input should turn into a server error, the requests built from them, and a raw
HTTP/1.1 client for sending those requests byte for byte through the dev router.

Every value is text that a client could mean to send or never should: NUL (raw and `%00`),
lone surrogates (JSON escapes, `%ED%A0%80` in URLs), C0/C1 controls, digits that are not ASCII,
values of 10,000 characters and more, dates at and beyond the calendar's ends, bad offsets,
huge and tiny numbers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

import jwt
from hypothesis import strategies as st

from betfuz_common import jsonio
from betfuz_common.signatures import sign
from betfuz_common.webhooks import WebhookGate
from betfuz_testing.tokens import TEST_JWT_SECRET
from sandboxes.wema.webhooks import dechunk

Headers = tuple[tuple[bytes, bytes], ...]

# --- the values ------------------------------------------------------------------------------

CONTROLS = ["\x00", "a\x00b", "\x01", "\t", "\n", "\x1f", "\x7f"]
C1 = ["\x85", "\x9f"]
SURROGATES = ["\ud800", "a\udc00b"]
# Digits that are not ASCII and that int(), float() or str.isdigit() take for digits:
# superscripts, Arabic-Indic, Devanagari, full-width.
DIGITS = ["²", "٢", "٥", "५", "２", "１２"]
NUMBERS = ["0", "-1", "-0", "100", "101", "2147483648", "9" * 40, "1e400", "0.001", "1_0", "+5"]
NUMBERS += [" 5", "NaN"]
DATES = [
    "0001-01-01",
    "9999-12-31",
    "10000-01-01",
    "-0001-01-01",
    "2025-02-30",
    "2025-01-15T14:30:00+24:00",
    "2025-01-15T14:30:00+99:99",
    "2025-01-15T14:30:00-23:59:59.999999",
    "0001-01-01T00:00:00+23:59",  # year 0 once in UTC
    "9999-12-31T23:59:59.999999-23:59",  # year 10000 once in UTC
    "2025-01-15T14:30:00 05:00",  # a '+' a query string decoded to a space
    "1999-12-31T23:59:59.999999Z",
    "2099-12-31T23:59:59+00:00",
    "2100-01-01",
]
LONG = ["x" * 10_000, "é" * 5_000, "\x00" * 1_000]
OTHER = ["", " ", "é", "\U0001f600", "\u202e", "\ufeff", "%", "..", "/", "+", "' OR 1=1 --"]
VALUES: list[str] = CONTROLS + C1 + SURROGATES + DIGITS + NUMBERS + DATES + LONG + OTHER
# Spellings only a URL has: encoded NUL, an encoded lone surrogate, an overlong NUL, a byte that
# is no UTF-8, encoded and double-encoded slashes, broken escapes.
URL_ONLY = [b"%00", b"a%00b", b"%ED%A0%80", b"%C0%80", b"%FF", b"%2F", b"%252F", b"%", b"%zz"]
URL_ONLY += [b"%25%30%30"]

# Random text from the whole of Unicode, lone surrogates and controls included.
any_text = st.text(st.characters(exclude_categories=()), max_size=30)
random_values = st.one_of(
    st.sampled_from(VALUES),
    any_text,
    st.integers().map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.dates().map(str),
    st.lists(st.sampled_from([*DIGITS, "0", "1", "-", ":", "T", "+"]), max_size=12).map("".join),
    st.integers(10_000, 20_000).map(lambda n: "x" * n),
)


def url_encoded(value: str) -> bytes:
    """A value as a client writes it in a URL: its UTF-8 percent-encoded (a lone surrogate as the
    bytes CESU would give it, %ED%A0%80: there is no other way to send one)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="").encode("ascii")


def decoded(raw: bytes) -> str:
    """What a server reads a URL's part as (uvicorn's way: bytes that are no UTF-8, those of a
    lone surrogate among them, become U+FFFD)."""
    return unquote(raw.decode("ascii"))


def url_values() -> list[tuple[str, bytes]]:
    """Each value's spelling in a URL, with the text a server reads it as."""
    return [(decoded(raw), raw) for raw in [url_encoded(v) for v in VALUES] + URL_ONLY]


# What the edge refuses wherever it stands (docs/DESIGN.md section 4), written here on its own
# rather than taken from the code under test: C0 controls, DEL, C1 controls, lone surrogates.
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# ASCII digits, perhaps a sign and a decimal point: the only way to write a number to us.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def refusal(text: str | None, numeric: bool) -> str | None:
    """Why a value must be refused (a 4xx) wherever it is given, or None when it may pass."""
    if text is None:
        return None
    if _UNSTORABLE.search(text):
        return "a control character or a lone surrogate"
    if numeric and not _PLAIN_NUMBER.fullmatch(text):
        return "a number not written in ASCII digits"
    return None


def header_bytes(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


def json_text(value: Any) -> bytes:
    """JSON as the stdlib writes it: lone surrogates as `\\ud800` escapes, which a strict
    encoder (orjson) would refuse to write at all."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


# --- bodies ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str).map(Decimal)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


# Numbers no encoder writes (huge, non-finite, over-precise, exponent forms) and values of other
# types, as literal JSON text.
LITERALS = [b"1e400", b"-1e400", b"NaN", b"Infinity", b"9" * 400, b"1.000", b"0.0000001", b"1e2"]
LITERALS += [b"-0", b'"1000"', b"true", b"null", b"[]", b"{}"]


def with_literal(valid: Mapping[str, Any], key: str, literal: bytes) -> bytes:
    """The valid body with `key`'s value written as `literal`, byte for byte."""
    marker = "\x00marker\x00"
    return json_text({**valid, key: marker}).replace(json_text(marker), literal)


def mutated(valid: Mapping[str, Any]) -> st.SearchStrategy[bytes]:
    """A valid body with a field replaced, dropped or added; any JSON; raw bytes; or the valid
    body's bytes with a few of them changed."""
    keys = sorted(valid)
    replaced = st.builds(lambda k, v: {**valid, k: v}, st.sampled_from(keys), json_values)
    dropped = st.sampled_from(keys).map(lambda k: {x: y for x, y in valid.items() if x != k})
    added = st.builds(lambda k, v: {**valid, k: v}, st.text(max_size=10), json_values)
    as_json = (replaced | dropped | added | json_values).map(jsonio.dumps)
    raw = jsonio.dumps(valid)
    flipped = st.lists(
        st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1, max_size=4
    ).map(lambda edits: _apply(raw, edits))
    extreme = st.builds(
        with_literal, st.just(valid), st.sampled_from(keys), st.sampled_from(LITERALS)
    )
    return as_json | flipped | extreme | st.binary(max_size=200) | st.just(raw)


def _apply(raw: bytes, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(raw)
    for index, value in edits:
        data[index] = value
    return bytes(data)


# --- what the documents declare --------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation of a served OpenAPI document, as far as the fuzz needs it."""

    service: str
    method: str
    template: str
    operation_id: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    headers: tuple[str, ...]  # declared header parameters (Idempotency-Key, signatures)
    bearer: bool
    numeric: frozenset[str]  # the parameters and body fields that take a number
    body_schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"

    def __str__(self) -> str:
        return f"{self.service}:{self.operation_id}"


def _resolve(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        target: Any = document
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def operations_of(service: str, document: Mapping[str, Any]) -> list[Operation]:
    found = []
    for template, item in document["paths"].items():
        for method, spec in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            params = [*item.get("parameters", []), *spec.get("parameters", [])]
            body = spec.get("requestBody", {}).get("content", {}).get("application/json")
            body_schema = None if body is None else _example_tree(document, body.get("schema", {}))
            fields = [
                *((p["name"], p.get("schema", {})) for p in params),
                *(body_schema or {}).get("properties", {}).items(),
            ]
            found.append(
                Operation(
                    service=service,
                    method=method.upper(),
                    template=template,
                    operation_id=spec["operationId"],
                    path_params=tuple(p["name"] for p in params if p["in"] == "path"),
                    query_params=tuple(p["name"] for p in params if p["in"] == "query"),
                    headers=tuple(p["name"] for p in params if p["in"] == "header"),
                    bearer=bool(spec.get("security", document.get("security"))),
                    numeric=frozenset(n for n, f in fields if _takes_a_number(document, f)),
                    body_schema=body_schema,
                )
            )
    return found


def _takes_a_number(document: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    schema = _resolve(document, schema)
    branches = schema.get("anyOf", [schema])
    return any(_resolve(document, b).get("type") in ("integer", "number") for b in branches)


def _example_tree(document: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """The body schema with its references resolved (one level deep is all an example needs)."""
    resolved = dict(_resolve(document, schema))
    resolved["properties"] = {
        name: dict(_resolve(document, prop))
        for name, prop in resolved.get("properties", {}).items()
    }
    return resolved


def example_body(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A body for an operation the suite has no valid example of: each property (optional ones
    too, so that every field gets fuzzed) from the document's own examples, enum or default,
    else the simplest value of its type."""
    return {name: _example_value(prop) for name, prop in schema.get("properties", {}).items()}


def _example_value(prop: Mapping[str, Any]) -> Any:
    for key in ("examples", "enum"):
        if prop.get(key):
            return prop[key][0]
    if prop.get("default") is not None:
        return prop["default"]
    if "anyOf" in prop:
        return _example_value(prop["anyOf"][0])
    kind = prop.get("type")
    if kind == "integer":
        return max(int(prop.get("minimum", 1)), 1)
    if kind == "number":
        return prop.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "object":
        return {}
    if kind == "array":
        return []
    return "x" * max(int(prop.get("minLength", 1)), 1)


# --- requests --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request exactly as it goes out: the path and query as raw (percent-encoded) bytes,
    header pairs as bytes, the body's bytes."""

    method: str
    path: bytes
    query: bytes
    headers: Headers
    body: bytes
    what: str  # which part was fuzzed, and how: shown when a case fails
    signed: bool = False  # a notification whose signature is right for its body
    refuse: str | None = None  # why the case must be refused (4xx), if it must

    @property
    def target(self) -> bytes:
        return self.path + (b"?" + self.query if self.query else b"")

    def header(self, name: bytes) -> bytes | None:
        return next((v for n, v in self.headers if n.lower() == name), None)

    def with_header(
        self, name: bytes, value: bytes | None, what: str, refuse: str | None = None
    ) -> Sent:
        """`name` replaced by `value` (dropped when None)."""
        kept = tuple((n, v) for n, v in self.headers if n.lower() != name.lower())
        added = () if value is None else ((name, value),)
        return replace(self, headers=kept + added, what=what, refuse=refuse)


@dataclass(frozen=True)
class Baseline:
    """A request the operation accepts (or refuses only for what the world holds, such as an
    empty wallet), built from valid parts; each case changes one part of it."""

    operation: Operation
    path_values: Mapping[str, bytes]
    token: str | None
    valid: Mapping[str, Any] | None  # the body, for operations that take one
    gate: WebhookGate | None  # how the provider signs, for notifications

    def path(self, values: Mapping[str, bytes] | None = None) -> bytes:
        chosen = {**self.path_values, **(values or {})}
        return re.sub(
            r"\{(\w+)\}", lambda m: chosen[m.group(1)].decode("latin-1"), self.operation.template
        ).encode("latin-1")

    def request(
        self,
        what: str,
        *,
        path: Mapping[str, bytes] | None = None,
        query: bytes = b"",
        body: bytes | None = None,
        refuse: str | None = None,
    ) -> Sent:
        content = json_text(self.valid) if body is None and self.valid is not None else body
        headers: list[tuple[bytes, bytes]] = []
        if self.token is not None:
            headers.append((b"authorization", b"Bearer " + self.token.encode()))
        if content is not None:
            headers.append((b"content-type", b"application/json"))
        signed = False
        if self.gate is not None and content is not None:
            signature = sign(content, self.gate.secrets[0], self.gate.algorithm)
            headers.append((self.gate.header.lower().encode(), signature.encode()))
            signed = True
        return Sent(
            self.operation.method,
            self.path(path),
            query,
            tuple(headers),
            content or b"",
            what,
            signed,
            refuse,
        )


def path_cases(base: Baseline) -> Iterator[Sent]:
    op = base.operation
    for name in op.path_params:
        for text, raw in url_values():
            refuse = refusal(text, name in op.numeric)
            yield base.request(f"path {name}={raw[:40]!r}", path={name: raw}, refuse=refuse)


def cursor(document: Any) -> bytes:
    """A cursor spelled as ours are (base64url of JSON, unpadded) around any document."""
    return base64.urlsafe_b64encode(json_text(document)).rstrip(b"=")


# Cursors that decode, around sort keys no page of ours ends on: moments beyond the calendar
# once in UTC, integers past BIGINT, text PostgreSQL cannot hold, the wrong shapes. Each must be
# refused, but for a naive moment in year 1, which is a key a query can take (any answer < 500).
_YEAR_ONE = cursor([1, ["0001-01-01T00:00:00", "top_0"]])
CURSORS = [
    cursor([1, key])
    for key in [
        ["0001-01-01T00:00:00+23:59", "top_0"],
        ["9999-12-31T23:59:59.999999-23:59", "top_0"],
        ["0001-01-01T00:00:00+23:59", 1],
        ["2025-01-15T14:30:00Z", 2**63],
        ["2025-01-15T14:30:00Z", -(2**70)],
        ["2025-01-15T14:30:00Z", "\u0000"],
        ["2025-01-15T14:30:00Z", "\ud800"],
        2**63,
        -(2**63) - 1,
        10**400,
        "2025-01-15T14:30:00Z",
        [],
        None,
    ]
] + [cursor([2, 1]), cursor([1]), cursor("x"), cursor({"a": 1}), b"AAAA", b"_-_-"]


def query_cases(base: Baseline) -> Iterator[Sent]:
    """Every value in every declared parameter, then what no document declares: unknown names,
    repeats, empty values, names without values, NUL in a name, a 2,000-parameter query."""
    op = base.operation
    declared = op.query_params
    for name in declared:
        for text, raw in url_values():
            query = name.encode() + b"=" + raw
            refuse = refusal(text, name in op.numeric)
            yield base.request(f"query {name}={raw[:40]!r}", query=query, refuse=refuse)
        if name == "cursor":
            for raw in CURSORS:
                what, query = f"query cursor={raw[:40]!r}", b"cursor=" + raw
                yield base.request(what, query=query, refuse="a cursor we never gave")
            yield base.request("query cursor in year 1", query=b"cursor=" + _YEAR_ONE)
    some = declared[0].encode() if declared else b"limit"
    extra = [
        b"zzz=1",
        b"zzz=%00",
        b"%00=1",
        b"%ED%A0%80=1",
        b"=1",
        b"=",
        b"&&&",
        b"zzz",
        some + b"=",
        some,
        some + b"=1&" + some + b"=2",
        some + b"=1;" + some + b"=2",
        some + b"=%C2%B2",
        some + b"=1&zzz=%00",
        b"a=" + b"x" * 20_000,
        b"&".join(b"p%d=1" % i for i in range(2_000)),
    ]
    for query in extra:
        # A NUL is refused wherever it stands, in a parameter no operation declares too.
        refuse = "a NUL in the query" if b"%00" in query else None
        yield base.request(f"query {query[:40]!r}", query=query, refuse=refuse)


def token(sub: Any = "user", **claims: Any) -> str:
    """A token signed with the test secret, with any claims (a `sub` that is no string, too)."""
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + 600, **claims}
    payload = {k: v for k, v in payload.items() if v is not _DROP}
    return jwt.encode(payload, TEST_JWT_SECRET, algorithm="HS256")


_DROP: Any = object()


def authorization_values(valid: str) -> list[tuple[str, bytes | None, bool]]:
    """Authorization header shapes, each with whether it must be refused: the scheme's
    spellings, broken tokens, and well-signed tokens no service may act on."""
    now = int(time.time())
    fine = {"sub": "user", "iat": now, "exp": now + 60}
    refused = [
        *(token(sub) for sub in ("\x00", "a\x00b", "\x1f", "\x85", "\ud800", "a" * 129, "")),
        *(token(sub) for sub in (5, None, ["a"], _DROP)),
        token("user", exp=now - 3_600),
        token("user", iat=now + 3_600),
        token("user", exp=253_402_300_800),  # lives until year 10000
        token("user", exp="soon"),
        jwt.encode(fine, "not-the-secret-the-services-use-0123456789", "HS256"),
        jwt.encode(fine, "k" * 64, "HS512"),
        jwt.encode(fine, "", "none"),
    ]
    # Well signed, for someone who is no user of ours: any answer below 500.
    accepted = [
        token("a" * 128),  # the longest subject
        token("٢"),
        token("user", roles=[1, None, {"a": 1}], role={"x": 1}, app_metadata="ops"),
    ]
    return [
        ("missing", None, True),
        ("empty", b"", True),
        ("scheme only", b"Bearer", True),
        ("basic", b"Basic dXNlcjpwYXNz", True),
        ("lowercase scheme", b"bearer " + valid.encode(), False),
        ("two spaces", b"Bearer  " + valid.encode(), False),
        ("trailing space", b"Bearer " + valid.encode() + b" ", False),
        ("trailing NUL", b"Bearer " + valid.encode() + b"\x00", True),
        ("non-ASCII", b"Bearer " + "é".encode() + valid.encode(), True),
        ("three dots", b"Bearer a.b.c", True),
        ("10k token", b"Bearer " + b"x" * 10_000, True),
        (
            "surrogate in the JOSE header",
            b"Bearer " + _segment('{"alg":"\\ud800"}') + b".e30.x",
            True,
        ),
        ("JOSE header not JSON", b"Bearer " + _segment("{") + b".e30.x", True),
        *((f"refused token {i}", b"Bearer " + t.encode(), True) for i, t in enumerate(refused)),
        *(
            (f"stranger's token {i}", b"Bearer " + t.encode(), False)
            for i, t in enumerate(accepted)
        ),
    ]


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=")


CONTENT_TYPES = [
    "APPLICATION/JSON",
    "Application/Json; Charset=UTF-8",
    " application/json ",
    "application/json; charset=latin-1",
    "application/problem+json",
    "text/json",
    "text/plain",
    "application/json\x00",
    "application/jsonx",
    ";",
    "multipart/form-data; boundary=x",
]
ODD = ["", " ", "\x00", "\x7f", "é", "\ud800", "x" * 10_000, "a b", "²"]
# Headers every request may carry, whatever the operation: each gets every odd value.
COMMON_HEADERS = ("x-request-id", "x-forwarded-for", "x-forwarded-proto", "accept")


def _bad_key(key: str) -> str | None:
    """An Idempotency-Key is 1-255 visible ASCII characters, once HTTP has trimmed its ends."""
    trimmed = key.strip(" \t")
    if re.fullmatch(r"[\x21-\x7e]{1,255}", trimmed):
        return None
    return "an Idempotency-Key that is not 1-255 visible ASCII characters"


def header_cases(base: Baseline) -> Iterator[Sent]:
    op, request = base.operation, base.request("baseline")
    for label, shape, bad in authorization_values(base.token or token("user")):
        refuse = "a token no service may act on" if bad and op.bearer else None
        yield request.with_header(b"authorization", shape, f"authorization {label}", refuse)
    names = [*COMMON_HEADERS, "idempotency-key"]
    if op.body_schema is None:
        names.append("content-type")
    for name in names:
        for odd in ODD:
            read = name == "idempotency-key" and "Idempotency-Key" in op.headers
            refuse = _bad_key(odd) if read else None
            what = f"{name} {odd[:30]!r}"
            yield request.with_header(name.encode(), header_bytes(odd), what, refuse)
    for content_type in CONTENT_TYPES if op.body_schema is not None else []:
        yield request.with_header(
            b"content-type", header_bytes(content_type), f"content-type {content_type[:40]!r}"
        )
    if "Idempotency-Key" in op.headers:
        for key in ["k" * 255, "k" * 256, "key with a trailing space ", "fuzz-key-0001"]:
            what = f"idempotency-key {key!r}"
            yield request.with_header(b"idempotency-key", key.encode(), what, _bad_key(key))
    if base.gate is not None:
        header = base.gate.header.lower().encode()
        good = request.header(header) or b""
        for label, signature in [
            ("uppercase hex", good.upper()),
            ("trailing space", good + b" "),
            ("prefixed", base.gate.algorithm.encode() + b"=" + good),
        ]:
            yield request.with_header(header, signature, f"signature {label}")
        for odd in ODD:
            refuse = "a signature that is not the body's"
            yield request.with_header(header, header_bytes(odd), f"signature {odd[:20]!r}", refuse)
    yield request.with_header(b"x-fuzz", b"x" * 20_000, "an unknown 20k header")
    yield replace(
        request,
        headers=request.headers + tuple((b"x-fuzz-%d" % i, b"1") for i in range(100)),
        what="100 more headers",
    )
    yield replace(
        request, headers=(*request.headers, (b"authorization", b"Bearer x")), what="two tokens"
    )
    yield replace(
        request,
        headers=(*request.headers, (b"content-type", b"text/plain")),
        what="two content types",
    )


# What each field of a body is set to: every value as a JSON string, and one of each other type.
BODY_VALUES: list[Any] = [*VALUES, 0, -1, 2**64, -(2**63), 10**40, 1e-300, True, None, [], {}]


def body_cases(base: Baseline) -> Iterator[Sent]:
    """Every value in every field, literals no encoder writes, a key given twice, and bodies that
    are not the JSON they claim to be."""
    valid = base.valid
    if valid is None:
        return
    for name in valid:
        for value in BODY_VALUES:
            body = json_text({**valid, name: value})
            text = value if isinstance(value, str) else None
            refuse = refusal(text, name in base.operation.numeric)
            yield base.request(f"body {name}={str(value)[:30]!r}", body=body, refuse=refuse)
    for name in valid:
        for literal in LITERALS:
            body = with_literal(valid, name, literal)
            yield base.request(f"body {name}={literal[:20]!r} literally", body=body)
    for first in list(valid)[:1]:
        duplicated = json_text(valid)[:-1] + b"," + json_text({first: valid[first]})[1:]
        yield base.request(f"body {first} given twice", body=duplicated, refuse="a key twice")
    yield base.request("body \\u0000 key", body=json_text({**valid, "\x00": 1}), refuse="NUL")
    yield base.request(
        "body nested 10k", body=b"[" * 10_000 + b"]" * 10_000, refuse="not an object"
    )
    yield base.request(
        "body not UTF-8", body=json_text(valid)[:-1] + b',"x":"\xff"}', refuse="not UTF-8"
    )
    yield base.request("body UTF-16", body=json.dumps(valid).encode("utf-16"))
    yield base.request("body with BOM", body=b"\xef\xbb\xbf" + json_text(valid))


# --- through the router: raw HTTP/1.1 --------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


# What no HTTP/1.1 peer may send in a request target or a header value (RFC 9110 section 5.5,
# RFC 9112 section 3.2): the router's own HTTP parser refuses these before any app sees them,
# as the load balancer would.
_NOT_ON_THE_WIRE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def wire_invalid(sent: Sent) -> bool:
    return bool(_NOT_ON_THE_WIRE.search(sent.target)) or any(
        _NOT_ON_THE_WIRE.search(name + value) for name, value in sent.headers
    )


async def send_raw(host: str, port: int, sent: Sent) -> Answer:
    """Write the request byte for byte on a new connection and read the answer to its end."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        lines = [b"%s %s HTTP/1.1" % (sent.method.encode(), sent.target)]
        if sent.header(b"host") is None:
            lines.append(b"host: %s:%d" % (host.encode(), port))
        lines += [name + b": " + value for name, value in sent.headers]
        if sent.body or sent.method in {"POST", "PUT", "PATCH"}:
            lines.append(b"content-length: %d" % len(sent.body))
        lines.append(b"connection: close")
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + sent.body)
        await writer.drain()
        async with asyncio.timeout(30):
            raw = await reader.read()
    finally:
        writer.close()
    return parse_answer(raw)


def parse_answer(raw: bytes) -> Answer:
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        rest = dechunk(rest)
    return Answer(int(status_line.split(b" ")[1]), headers, rest)
