"""Replay the first result of a keyed request (DESIGN §3, idempotency)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.errors import IdempotencyKeyReused, InvalidInput
from adledger.services.actor import Actor
from adledger.store import idempotency as repo

T = TypeVar("T")

MAX_KEY_LENGTH = 200


def request_hash(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"operation": operation, "request": request}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def run_idempotent(
    session: AsyncSession,
    actor: Actor,
    key: str | None,
    operation: str,
    request: dict[str, Any],
    result_type: type[T],
    run: Callable[[], Awaitable[T]],
) -> T:
    """Run once per (caller, key). The claim is part of the caller's transaction, so a
    failed run leaves no key behind and may be retried."""
    if key is None:
        return await run()
    _check_key(key)
    digest = request_hash(operation, request)
    record_id = await repo.claim(session, actor.user_id, key, operation, digest)
    if record_id is None:
        return await _replay(session, actor, key, digest, result_type)
    result = await run()
    await repo.save_result(session, record_id, dataclasses.asdict(result))  # type: ignore[call-overload]
    return result


async def _replay(
    session: AsyncSession, actor: Actor, key: str, digest: str, result_type: type[T]
) -> T:
    record = await repo.existing(session, actor.user_id, key)
    if record is None or record.request_hash != digest:
        raise IdempotencyKeyReused(field=("input", "idempotencyKey"))
    return result_type(**record.result)


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"idempotencyKey must have 1 to {MAX_KEY_LENGTH} characters",
            ("input", "idempotencyKey"),
        )
