"""Relay global ids ("Wallet:42" in base64): the API's name for an object, also written
into the snapshots of partner events (services may not import the schema)."""

from __future__ import annotations

import base64


def to_global_id(type_name: str, db_id: int) -> str:
    return base64.b64encode(f"{type_name}:{db_id}".encode()).decode()
