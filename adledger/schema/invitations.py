"""Business center invitations: a role offered to an email until its user accepts."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

import strawberry

from adledger.domain.access import Role as DomainRole
from adledger.schema.enums import Role
from adledger.schema.ids import to_global_id


@strawberry.enum
class InvitationStatus(Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    REVOKED = "REVOKED"


@strawberry.type(
    description="A role in a business center offered to an email; it makes the user with "
    "that email a member once they accept it (acceptBusinessCenterInvitation)."
)
class BusinessCenterInvitation:
    id: strawberry.ID
    business_center_name: str
    email: str
    role: Role
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime

    @classmethod
    def from_row(cls, row: Any, center_name: str) -> BusinessCenterInvitation:
        return cls(
            id=strawberry.ID(to_global_id("BusinessCenterInvitation", row.id)),
            business_center_name=center_name,
            email=row.email,
            role=DomainRole(row.role),
            status=InvitationStatus(row.status),
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


@strawberry.input
class AcceptBusinessCenterInvitationInput:
    invitation_id: strawberry.ID


@strawberry.input
class DeclineBusinessCenterInvitationInput:
    invitation_id: strawberry.ID


@strawberry.input
class RevokeBusinessCenterInvitationInput:
    invitation_id: strawberry.ID
