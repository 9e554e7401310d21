"""Invitations: addBusinessCenterMember records one; the invitee accepts or declines it; an
admin revokes it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from adledger.resolvers.mutation import decode_id, mutate
from adledger.schema import inputs, results
from adledger.schema import invitations as schema
from adledger.schema.types import BusinessCenter
from adledger.services import invitations as service
from adledger.services.actor import Actor
from adledger.store import invitations as repo

INVITATION_FIELD = ("input", "invitationId")


async def _render(info: Info, outcome: service.InvitationOutcome, success: Any) -> Any:
    ctx = info.context
    center = await ctx.loaders.center.load(outcome.business_center_id)
    row = await ctx.read(lambda s: repo.invitation(s, outcome.invitation_id))
    return success(
        business_center=BusinessCenter.from_row(center),
        invitation=schema.BusinessCenterInvitation.from_row(row, center.name),
    )


async def add_business_center_member(
    info: Info, input: inputs.AddBusinessCenterMemberInput
) -> results.AddBusinessCenterMemberResult:
    async def run(session: AsyncSession, actor: Actor) -> service.InvitationOutcome:
        center_id = decode_id(
            input.business_center_id, "BusinessCenter", ("input", "businessCenterId")
        )
        now = info.context.state.now()
        return await service.invite(session, actor, center_id, input.email, input.role, now)

    async def render(outcome: service.InvitationOutcome) -> Any:
        return await _render(info, outcome, results.AddBusinessCenterMemberSuccess)

    return await mutate(info, results.AddBusinessCenterMemberResult, run, render)


async def accept_business_center_invitation(
    info: Info, input: schema.AcceptBusinessCenterInvitationInput
) -> results.AcceptBusinessCenterInvitationResult:
    return await _answer(
        info, input.invitation_id, service.accept, results.AcceptBusinessCenterInvitationResult
    )


async def decline_business_center_invitation(
    info: Info, input: schema.DeclineBusinessCenterInvitationInput
) -> results.DeclineBusinessCenterInvitationResult:
    return await _answer(
        info, input.invitation_id, service.decline, results.DeclineBusinessCenterInvitationResult
    )


async def revoke_business_center_invitation(
    info: Info, input: schema.RevokeBusinessCenterInvitationInput
) -> results.RevokeBusinessCenterInvitationResult:
    return await _answer(
        info, input.invitation_id, service.revoke, results.RevokeBusinessCenterInvitationResult
    )


async def _answer(info: Info, invitation_gid: str, action: Any, result_union: Any) -> Any:
    async def run(session: AsyncSession, actor: Actor) -> service.InvitationOutcome:
        invitation_id = decode_id(invitation_gid, "BusinessCenterInvitation", INVITATION_FIELD)
        return await action(session, actor, invitation_id, info.context.state.now())

    async def render(outcome: service.InvitationOutcome) -> Any:
        return await _render(info, outcome, results.BusinessCenterInvitationSuccess)

    return await mutate(info, result_union, run, render)
