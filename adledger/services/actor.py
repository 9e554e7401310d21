"""Who is calling. Built by the edge from a verified token; services trust it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    email: str
    is_staff: bool
    is_integration: bool = False
    """The ad server: records spend, and nothing else that moves money."""
