"""addBusinessCenterMember does not reveal which emails have accounts: it records an
invitation, answered the same for any email, and only the invitee's acceptance adds them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, text

from adledger import clock
from adledger.store.models import BusinessCenterInvitation, Membership
from tests.helpers import ADD_MEMBER, accept, create_center, invite

MEMBERS = "query($id: ID!) { businessCenter(id: $id) { members { email role } invitations { email role status } } }"
VIEWER_INVITATIONS = "{ viewer { invitations { id businessCenterName email role status } } }"
DECLINE = """mutation($input: DeclineBusinessCenterInvitationInput!) {
  declineBusinessCenterInvitation(input: $input) { __typename ... on UserError { code field } } }"""
REVOKE = """mutation($input: RevokeBusinessCenterInvitationInput!) {
  revokeBusinessCenterInvitation(input: $input) {
    __typename ... on BusinessCenterInvitationSuccess { invitation { status } }
    ... on UserError { code field } } }"""


def _without_ids(result: dict) -> dict:
    invitation = {k: v for k, v in result["invitation"].items() if k not in ("id", "email")}
    return {**result, "invitation": invitation}


async def _members(api, center) -> list[dict]:
    data = await api.data(MEMBERS, {"id": center.id}, center.admin.token)
    return data["businessCenter"]["members"]


async def _memberships(sessions) -> int:
    async with sessions() as session:
        return await session.scalar(select(func.count()).select_from(Membership))


async def test_a_known_and_an_unknown_email_get_the_same_answer_and_no_membership(
    api, users, sessions
) -> None:
    # given a center and a user who has an account
    center = await create_center(api, await users.create("admin"))
    known = await users.create("known")
    before = await _memberships(sessions)
    # when its admin invites the known email and an email nobody has
    for_known = await invite(api, center, known.email, "FINANCE_ANALYST")
    for_unknown = await invite(api, center, "nobody-here@example.com", "FINANCE_ANALYST")
    # then both answers are the same but for the invitation's id and email
    assert for_known["__typename"] == "AddBusinessCenterMemberSuccess"
    assert _without_ids(for_known) == _without_ids(for_unknown)
    assert for_known["invitation"]["email"] == known.email
    # and nobody became a member yet
    assert await _memberships(sessions) == before
    assert [m["email"] for m in await _members(api, center)] == [center.admin.email]


async def test_the_invitee_sees_and_accepts_the_invitation(api, users) -> None:
    center = await create_center(api, await users.create("admin"), name="Northwind")
    analyst = await users.create("analyst")
    invited = await invite(api, center, analyst.email.upper(), "FINANCE_ANALYST")

    listed = (await api.data(VIEWER_INVITATIONS, token=analyst.token))["viewer"]["invitations"]
    accepted = await accept(api, invited["invitation"]["id"], analyst.token)

    assert [(i["businessCenterName"], i["role"], i["status"]) for i in listed] == [
        ("Northwind", "FINANCE_ANALYST", "PENDING")
    ]
    assert accepted["__typename"] == "BusinessCenterInvitationSuccess"
    assert accepted["invitation"]["status"] == "ACCEPTED"
    assert {"email": analyst.email, "role": "FINANCE_ANALYST"} in await _members(api, center)
    after = (await api.data(VIEWER_INVITATIONS, token=analyst.token))["viewer"]["invitations"]
    assert after == []


async def test_an_email_without_an_account_accepts_once_it_signs_up(api, users) -> None:
    # given an invitation to an email that has no account yet (the factory's next email)
    center = await create_center(api, await users.create("admin"))
    email = f"later{users.count + 1}@example.com"
    invited = await invite(api, center, email, "STANDARD")
    # when that user signs up
    later = await users.create("later")
    assert later.email == email
    # then the invitation waits for them, and accepting makes them a member
    listed = (await api.data(VIEWER_INVITATIONS, token=later.token))["viewer"]["invitations"]
    assert [i["id"] for i in listed] == [invited["invitation"]["id"]]
    assert (await accept(api, listed[0]["id"], later.token))["__typename"] == (
        "BusinessCenterInvitationSuccess"
    )
    assert {"email": email, "role": "STANDARD"} in await _members(api, center)


async def test_only_the_invitee_can_accept_and_only_once(api, users) -> None:
    center = await create_center(api, await users.create("admin"))
    invitee, other = await users.create("invitee"), await users.create("other")
    invitation_id = (await invite(api, center, invitee.email, "STANDARD"))["invitation"]["id"]

    stolen = await accept(api, invitation_id, other.token)
    first = await accept(api, invitation_id, invitee.token)
    twice = await accept(api, invitation_id, invitee.token)

    assert (stolen["code"], stolen["field"]) == ("NOT_FOUND", ["input", "invitationId"])
    assert first["__typename"] == "BusinessCenterInvitationSuccess"
    assert twice["code"] == "NOT_FOUND"
    assert other.email not in [m["email"] for m in await _members(api, center)]


async def test_revoked_declined_and_expired_invitations_cannot_be_accepted(
    api, users, sessions
) -> None:
    center = await create_center(api, await users.create("admin"))
    revoked_user = await users.create("revoked")
    declining = await users.create("declining")
    late = await users.create("late")
    revoked = (await invite(api, center, revoked_user.email, "STANDARD"))["invitation"]["id"]
    declined = (await invite(api, center, declining.email, "STANDARD"))["invitation"]["id"]
    expired = (await invite(api, center, late.email, "STANDARD"))["invitation"]["id"]

    revoking = await api.data(REVOKE, {"input": {"invitationId": revoked}}, center.admin.token)
    declining_answer = await api.data(
        DECLINE, {"input": {"invitationId": declined}}, declining.token
    )
    async with sessions() as session:
        await session.execute(
            text("UPDATE business_center_invitations SET expires_at = :at WHERE email = :e"),
            {"e": late.email, "at": clock.now() - timedelta(days=1)},
        )
        await session.commit()

    assert revoking["revokeBusinessCenterInvitation"]["invitation"]["status"] == "REVOKED"
    assert declining_answer["declineBusinessCenterInvitation"]["__typename"] == (
        "BusinessCenterInvitationSuccess"
    )
    for invitation_id, user in ((revoked, revoked_user), (declined, declining), (expired, late)):
        assert (await accept(api, invitation_id, user.token))["code"] == "NOT_FOUND"
    assert [m["email"] for m in await _members(api, center)] == [center.admin.email]


async def test_only_admins_invite_and_see_invitations(api, users) -> None:
    from tests.helpers import add_member

    center = await create_center(api, await users.create("admin"))
    manager, outsider = await users.create("manager"), await users.create("outsider")
    await add_member(api, center, manager, "FINANCE_MANAGER")
    await invite(api, center, "someone@example.com", "STANDARD")
    variables = {
        "input": {"businessCenterId": center.id, "email": "x@example.com", "role": "ADMIN"}
    }

    by_manager = (await api.data(ADD_MEMBER, variables, manager.token))["addBusinessCenterMember"]
    by_outsider = (await api.data(ADD_MEMBER, variables, outsider.token))["addBusinessCenterMember"]
    seen_by_manager = await api.data(MEMBERS, {"id": center.id}, manager.token)
    seen_by_admin = await api.data(MEMBERS, {"id": center.id}, center.admin.token)

    assert by_manager["code"] == "FORBIDDEN"
    assert by_outsider["code"] == "NOT_FOUND"
    assert seen_by_manager["businessCenter"]["invitations"] == []
    assert seen_by_admin["businessCenter"]["invitations"] == [
        {"email": "someone@example.com", "role": "STANDARD", "status": "PENDING"}
    ]


async def test_inviting_again_updates_the_pending_invitation(api, users, sessions) -> None:
    center = await create_center(api, await users.create("admin"))

    first = await invite(api, center, "twice@example.com", "STANDARD")
    second = await invite(api, center, "Twice@Example.com ", "FINANCE_MANAGER")

    assert first["invitation"]["id"] == second["invitation"]["id"]
    assert second["invitation"]["role"] == "FINANCE_MANAGER"
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BusinessCenterInvitation)) == 1


async def test_bad_emails_are_invalid_input_and_record_nothing(api, users, sessions) -> None:
    center = await create_center(api, await users.create("admin"))

    for email in (
        "no-at-sign",
        "@example.com",
        "a@",
        "a@b@c",
        "two words@example.com",
        "x" * 330 + "@e.com",
        "nul\x00@example.com",
    ):
        result = await invite(api, center, email, "STANDARD")
        assert (result["code"], result["field"]) == ("INVALID_INPUT", ["input", "email"]), email
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(BusinessCenterInvitation)) == 0
