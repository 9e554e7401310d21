"""Free text people give with an operation (a reason, a note): whitespace collapsed and
its length bounded before anything is done with it."""

from __future__ import annotations

from adledger.domain.errors import InvalidInput

MAX_TEXT = 500


def clean_text(raw: str, field: tuple[str, ...], what: str = "reason") -> str:
    text = " ".join(raw.split())
    if not 1 <= len(text) <= MAX_TEXT:
        raise InvalidInput(f"{what} must have 1 to {MAX_TEXT} characters", field)
    return text
