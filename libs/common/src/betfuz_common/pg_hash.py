"""PostgreSQL's `hashtext()`, computed here, so a lock key can travel inside a statement that
takes no parameters.

PostgreSQL hashes text with Bob Jenkins' lookup3 (`hash_bytes` in src/common/hashfn.c) over the
string's UTF-8 bytes (for a deterministic collation, which the default is). A process that
locks `pg_advisory_xact_lock(space, hashtext(reference))` in SQL and one that sends the integer
computed here take the same lock, so the two can run side by side (during a deploy, say). This
is the little-endian result, which is what PostgreSQL computes on x86-64 and arm64; a test
holds it against the server for many strings."""

from __future__ import annotations

_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    a = (a - c) & _MASK
    a ^= _rot(c, 4)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 6)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 8)
    b = (b + a) & _MASK
    a = (a - c) & _MASK
    a ^= _rot(c, 16)
    c = (c + b) & _MASK
    b = (b - a) & _MASK
    b ^= _rot(a, 19)
    a = (a + c) & _MASK
    c = (c - b) & _MASK
    c ^= _rot(b, 4)
    b = (b + a) & _MASK
    return a, b, c


def _final(a: int, b: int, c: int) -> int:
    c ^= b
    c = (c - _rot(b, 14)) & _MASK
    a ^= c
    a = (a - _rot(c, 11)) & _MASK
    b ^= a
    b = (b - _rot(a, 25)) & _MASK
    c ^= b
    c = (c - _rot(b, 16)) & _MASK
    a ^= c
    a = (a - _rot(c, 4)) & _MASK
    b ^= a
    b = (b - _rot(a, 14)) & _MASK
    c ^= b
    c = (c - _rot(b, 24)) & _MASK
    return c


def _word(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def hash_bytes(data: bytes) -> int:
    """`hash_bytes()` of hashfn.c, as an unsigned 32-bit value."""
    a = b = c = (0x9E3779B9 + len(data) + 3923095) & _MASK
    at, left = 0, len(data)
    while left >= 12:
        a = (a + _word(data, at)) & _MASK
        b = (b + _word(data, at + 4)) & _MASK
        c = (c + _word(data, at + 8)) & _MASK
        a, b, c = _mix(a, b, c)
        at, left = at + 12, left - 12
    tail = data[at:]
    # The last 11 bytes: a takes 0-3, b 4-7, c 8-10 shifted up one byte (its lowest byte is
    # reserved for the length, which seeded it above).
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + (int.from_bytes(tail[8:11], "little") << 8)) & _MASK
    return _final(a, b, c)


def hashtext(text: str) -> int:
    """`SELECT hashtext(text)`: a signed 32-bit integer, as PostgreSQL returns it."""
    value = hash_bytes(text.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value
