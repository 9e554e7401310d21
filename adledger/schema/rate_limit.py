"""Query.rateLimit: where the caller stands against its points budget (GitHub's model)."""

from __future__ import annotations

from datetime import datetime

import strawberry


@strawberry.type(
    description="Where the caller's token stands against its points budget (GitHub's model)."
)
class RateLimit:
    cost: int = strawberry.field(description="What the request this field is part of costs.")
    limit: int
    remaining: int
    reset_at: datetime
