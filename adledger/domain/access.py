"""Who may do what inside a business center (DESIGN §4)."""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    FINANCE_MANAGER = "FINANCE_MANAGER"
    FINANCE_ANALYST = "FINANCE_ANALYST"
    STANDARD = "STANDARD"


class Permission(enum.StrEnum):
    READ = "read"
    READ_MONEY = "read_money"
    MOVE_MONEY = "move_money"
    MANAGE_ACCOUNTS = "manage_accounts"
    MANAGE_MEMBERS = "manage_members"
    RUN_CAMPAIGNS = "run_campaigns"
    MANAGE_WEBHOOKS = "manage_webhooks"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.FINANCE_MANAGER: frozenset(
        {
            Permission.READ,
            Permission.READ_MONEY,
            Permission.MOVE_MONEY,
            Permission.RUN_CAMPAIGNS,
            Permission.MANAGE_WEBHOOKS,
        }
    ),
    Role.FINANCE_ANALYST: frozenset({Permission.READ, Permission.READ_MONEY}),
    Role.STANDARD: frozenset({Permission.READ, Permission.RUN_CAMPAIGNS}),
}


def role_allows(role: Role | None, permission: Permission, *, is_staff: bool = False) -> bool:
    """Staff may read any customer's money; their changes go through staff-only operations."""
    if is_staff and permission in _STAFF_GRANTS:
        return True
    return role is not None and permission in _GRANTS[role]


_STAFF_GRANTS = frozenset({Permission.READ, Permission.READ_MONEY})


def implies(held: Permission, needed: Permission) -> bool:
    """Whoever holds `held` in a business center holds `needed` there too, whatever its
    role, staff or not (staff hold their grants besides any role's)."""
    held_by = [*_GRANTS.values(), *(g | _STAFF_GRANTS for g in _GRANTS.values()), _STAFF_GRANTS]
    return all(needed in grants for grants in held_by if held in grants)
