"""Relay global ids ("Wallet:42" in base64) and page cursors."""

from __future__ import annotations

import base64
import binascii


def to_global_id(type_name: str, db_id: int) -> str:
    return base64.b64encode(f"{type_name}:{db_id}".encode()).decode()


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, database id), or None for anything that is not one of our ids."""
    try:
        decoded = base64.b64decode(global_id.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, _, raw_id = decoded.partition(":")
    if not type_name.isalpha() or not raw_id.isdigit() or len(raw_id) > 18:
        return None
    return type_name, int(raw_id)


def db_id_of(global_id: str, type_name: str) -> int | None:
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != type_name:
        return None
    return parsed[1]


def to_cursor(db_id: int) -> str:
    return to_global_id("cursor", db_id)


def from_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    db_id = db_id_of(cursor, "cursor")
    if db_id is None:
        raise ValueError("invalid cursor")
    return db_id
