"""Row locks never block the KEY SHARE lock an insert takes on the row it references, so a
writer holding a business center (subscribeToPlan) cannot deadlock with a top-up inserting
that center's invoice: every lock is FOR NO KEY UPDATE, none FOR UPDATE."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, text

from adledger import clock
from adledger.services import users
from adledger.store import billing
from adledger.store import business_centers as centers
from adledger.store import users as user_repo
from adledger.store import wallets as wallet_repo
from adledger.store.models import (
    BusinessCenterInvitation,
    Invoice,
    InvoiceLine,
    Membership,
    Wallet,
)


async def _center_id(sessions) -> int:
    async with sessions() as session:
        center = await centers.insert_business_center(session, "Locked", "USD")
        await session.commit()
        return center.id


async def _insert_referencing(sessions, center_id: int) -> None:
    """An insert pointing at the center, failing fast if it has to wait for a row lock."""
    async with sessions() as session:
        await session.execute(text("SET LOCAL lock_timeout = '2s'"))
        await session.execute(
            insert(BusinessCenterInvitation).values(
                business_center_id=center_id,
                email="waits@example.com",
                role="STANDARD",
                status="PENDING",
                expires_at=clock.now() + timedelta(days=1),
            )
        )
        await session.execute(
            insert(Invoice).values(
                number="INV-2026-999999",
                business_center_id=center_id,
                kind="TOP_UP",
                status="OPEN",
                currency="USD",
                subtotal=1000,
                discount=0,
                issue_on=clock.now(),
            )
        )
        await session.rollback()


async def test_a_locked_business_center_does_not_block_inserts_that_reference_it(
    db, sessions
) -> None:
    center_id = await _center_id(sessions)
    async with sessions() as holder:
        assert await centers.lock_business_center(holder, center_id) is not None

        await _insert_referencing(sessions, center_id)  # raises on lock_timeout if blocked

        await holder.rollback()


async def test_a_locked_invoice_does_not_block_inserting_its_lines(db, sessions) -> None:
    center_id = await _center_id(sessions)
    async with sessions() as session:
        invoice_id = await session.scalar(
            insert(Invoice)
            .values(
                number="INV-2026-000001",
                business_center_id=center_id,
                kind="TOP_UP",
                status="OPEN",
                currency="USD",
                subtotal=1000,
                discount=0,
                issue_on=clock.now(),
            )
            .returning(Invoice.id)
        )
        await session.commit()
    async with sessions() as holder:
        assert await billing.lock_invoice(holder, invoice_id) is not None
        async with sessions() as other:
            await other.execute(text("SET LOCAL lock_timeout = '2s'"))
            await other.execute(
                insert(InvoiceLine).values(invoice_id=invoice_id, description="x", amount=1000)
            )
            await other.rollback()
        await holder.rollback()


async def _wallet_of_member(sessions, member_email: str) -> tuple[int, int, int]:
    """A center with its own wallet and one member: (center id, wallet id, member's id)."""
    async with sessions() as session:
        await users.create_user(session, member_email)
        member = await user_repo.user_by_email(session, member_email)
        center = await centers.insert_business_center(session, "Held", "USD")
        wallet = Wallet(business_center_id=center.id, currency="USD")
        session.add_all(
            [wallet, Membership(business_center_id=center.id, user_id=member.id, role="ADMIN")]
        )
        await session.flush()
        ids = (center.id, wallet.id, member.id)
        await session.commit()
        return ids


async def _center_is_free(sessions, center_id: int) -> bool:
    """Whether another transaction may lock the center now (without waiting for it)."""
    async with sessions() as session:
        taken = await session.scalars(
            text("SELECT id FROM business_centers WHERE id = :id FOR NO KEY UPDATE SKIP LOCKED"),
            {"id": center_id},
        )
        free = taken.all() == [center_id]
        await session.rollback()
        return free


async def test_a_transfer_locks_the_center_of_a_member_only(db, sessions) -> None:
    # given a center with a member, and another customer's user
    center_id, wallet_id, member_id = await _wallet_of_member(sessions, "member@example.com")
    async with sessions() as session:
        await users.create_user(session, "stranger@example.com")
        stranger = await user_repo.user_by_email(session, "stranger@example.com")
        await session.commit()

    # when the stranger's transfer reads that center's wallet, its transaction still open
    async with sessions() as session:
        found, modes = await wallet_repo.lock_centers_of_movable_wallets(
            session, stranger.id, [wallet_id], staff=False
        )
        # then it read nothing and the center is not locked
        assert (found, modes) == ({}, {})
        assert await _center_is_free(sessions, center_id)
        await session.rollback()

    # when the member's does, then the center is locked until its transaction ends
    async with sessions() as session:
        found, modes = await wallet_repo.lock_centers_of_movable_wallets(
            session, member_id, [wallet_id], staff=False
        )
        assert (list(found), modes) == ([wallet_id], {center_id: "MANUAL"})
        assert not await _center_is_free(sessions, center_id)
        await session.rollback()
    assert await _center_is_free(sessions, center_id)
