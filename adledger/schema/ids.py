"""Relay global ids ("Wallet:42" in base64) and page cursors."""

from __future__ import annotations

import base64
import binascii
import re

from adledger.domain.ids import to_global_id

__all__ = ["db_id_of", "from_cursor", "from_global_id", "to_cursor", "to_global_id"]

# ASCII only: str.isdigit() and int() also take "\u00b2" or "\u0661\u0660" for digits.
# Ids are positive BIGINTs; 18 digits stay below their maximum.
_DECODED_ID = re.compile(r"([A-Za-z]+):([0-9]{1,18})")
# Base64 of the longest type name and id, with room to spare: longer text is not decoded.
_MAX_GLOBAL_ID_LENGTH = 100


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, database id), or None for anything that is not one of our ids."""
    if len(global_id) > _MAX_GLOBAL_ID_LENGTH or not global_id.isascii():
        return None
    try:
        decoded = base64.b64decode(global_id.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    match = _DECODED_ID.fullmatch(decoded)
    if match is None:
        return None
    return match[1], int(match[2])


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
