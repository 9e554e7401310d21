"""Which permission implies which (domain/access.py): what lets a mutation skip the roles
its answer would need (resolvers/readable_results.py, `acts_with`)."""

from __future__ import annotations

from adledger.domain.access import Permission, implies


def test_moving_money_implies_reading_it_and_running_campaigns_does_not() -> None:
    # every role that may move money may read it (staff or not)
    assert implies(Permission.MOVE_MONEY, Permission.READ_MONEY)
    assert implies(Permission.MOVE_MONEY, Permission.READ)
    # a STANDARD member runs campaigns without reading money
    assert not implies(Permission.RUN_CAMPAIGNS, Permission.READ_MONEY)
    # staff read money in any center; a STANDARD member reads there without reading money
    assert not implies(Permission.READ, Permission.READ_MONEY)
    # nothing but an ADMIN manages members, and an ADMIN holds everything
    assert implies(Permission.MANAGE_MEMBERS, Permission.MOVE_MONEY)
