"""Wallet owners for tests: rows in the platform's users table, each with a fresh id."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from decimal import Decimal
from typing import Protocol

import asyncpg


class MakeUser(Protocol):
    def __call__(self, balance: Decimal | int = 0) -> Awaitable[str]: ...


async def new_user(pool: asyncpg.Pool, balance: Decimal | int = 0) -> str:
    user_id = f"user-{uuid.uuid4().hex}"
    await pool.execute(
        "INSERT INTO public.users (id, balance) VALUES ($1, $2)", user_id, Decimal(balance)
    )
    return user_id


def user_factory(pool: asyncpg.Pool) -> MakeUser:
    def make(balance: Decimal | int = 0) -> Awaitable[str]:
        return new_user(pool, balance)

    return make


async def balance_of(pool: asyncpg.Pool, user_id: str) -> Decimal:
    value: Decimal = await pool.fetchval("SELECT balance FROM public.users WHERE id = $1", user_id)
    return value
