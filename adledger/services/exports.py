"""CSV exports: who may export what, the signed download link, and the file itself.

The edge opens one session for a download and calls, in this order: `open_snapshot`
(its transaction's first statement), `authorize`, then `csv_chunks` while the response
streams. The access check and the rows share one snapshot; the caller closes the session
(which rolls the read-only transaction back) when the stream ends or is cut.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from adledger.domain import exports as rules
from adledger.domain.access import Permission, Role
from adledger.domain.errors import InvariantBroken, not_found
from adledger.domain.exports import ExportKind, ExportSpec
from adledger.domain.ids import to_global_id
from adledger.services import access
from adledger.services.actor import Actor
from adledger.store import exports as store

Session = AsyncSession | AsyncConnection
# Bytes gathered before they are handed to the response: few, large writes to the socket.
CHUNK_BYTES = 64 * 1024

WALLET_PARAMETER = "walletId"
CENTER_PARAMETER = "businessCenterId"
USER_PARAMETER = "user"
EXPIRES_PARAMETER = "expires"


@dataclass(frozen=True, slots=True)
class Authorized:
    """An export the actor may read, and the ledger accounts (transactions) it covers."""

    spec: ExportSpec
    account_ids: list[int]


async def open_snapshot(session: Session) -> None:
    await store.begin_snapshot(session)


async def authorize(
    session: Session, actor: Actor, spec: ExportSpec, prefix: rules.Field = ()
) -> Authorized:
    """What reading the wallet's (the center's) money in GraphQL asks: READ_MONEY in its
    business center, or staff. Another customer's id is NOT_FOUND, like one of nothing."""
    access.refuse_integration(actor)
    if spec.wallet_id is not None:
        wallet = await store.wallet_seen_by(session, actor.user_id, spec.wallet_id)
        field = (*prefix, WALLET_PARAMETER)
        if wallet is None:
            raise not_found("wallet", field)
        access.check(actor, _role(wallet.role), Permission.READ_MONEY, field=field, what="wallet")
    else:
        center_id = _center_of(spec)
        center = await store.center_seen_by(session, actor.user_id, center_id)
        field = (*prefix, CENTER_PARAMETER)
        if center is None:
            raise not_found("business center", field)
        role = _role(center.role)
        access.check(actor, role, Permission.READ_MONEY, field=field, what="business center")
    if spec.kind is ExportKind.INVOICES:
        return Authorized(spec, [])
    accounts = await store.bucket_accounts(
        session, wallet_id=spec.wallet_id, center_id=spec.center_id
    )
    return Authorized(spec, accounts)


def _role(value: str | None) -> Role | None:
    return Role(value) if value else None


def _center_of(spec: ExportSpec) -> int:
    if spec.center_id is None:  # domain.check_scope gave exactly one
        raise InvariantBroken("an export names a wallet or a business center")
    return spec.center_id


async def link_actor(session: Session, user_id: int) -> Actor | None:
    """The user a link was made for, as they are now (None: gone)."""
    found = await store.user(session, user_id)
    if found is None:
        return None
    user_id, email, is_staff, is_integration = found
    return Actor(user_id=user_id, email=email, is_staff=is_staff, is_integration=is_integration)


async def csv_chunks(session: Session, authorized: Authorized) -> AsyncIterator[bytes]:
    """The file, header first, in chunks of about CHUNK_BYTES: RFC 4180 (CRLF, fields
    quoted when they hold a comma, a quote, CR or LF, quotes doubled), UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    spec = authorized.spec
    if spec.kind is ExportKind.TRANSACTIONS:
        writer.writerow(rules.TRANSACTION_HEADER)
        transactions = store.transaction_lines(
            session, authorized.account_ids, spec.start, spec.end
        )
        async for transaction in transactions:
            writer.writerow(rules.transaction_cells(transaction))
            if buffer.tell() >= CHUNK_BYTES:
                yield _drain(buffer)
    else:
        writer.writerow(rules.INVOICE_HEADER)
        async for invoice in store.invoice_lines(session, _center_of(spec), spec.start, spec.end):
            writer.writerow(rules.invoice_cells(invoice))
            if buffer.tell() >= CHUNK_BYTES:
                yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> bytes:
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk


def filename(spec: ExportSpec) -> str:
    """ASCII only, nothing to quote: adledger-invoices-20261101T000000Z-20261201T000000Z.csv."""
    return f"adledger-{spec.kind.value}-{_stamp(spec.start)}-{_stamp(spec.end)}.csv"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


# -- signed links -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    url: str
    expires_at: datetime


def signed_link(spec: ExportSpec, user_id: int, now: datetime, secret: bytes) -> Link:
    """A relative URL naming this one export for this user, valid LINK_LIFETIME."""
    expires = int((now + rules.LINK_LIFETIME).timestamp())
    params = [*scope_parameters(spec), (USER_PARAMETER, str(user_id))]
    params.append((EXPIRES_PARAMETER, str(expires)))
    params.append((rules.SIGNATURE_PARAMETER, rules.signature(secret, spec.kind.value, params)))
    url = f"/exports/{spec.kind.value}.csv?{urlencode(params)}"
    return Link(url, datetime.fromtimestamp(expires, UTC))


def scope_parameters(spec: ExportSpec) -> list[tuple[str, str]]:
    """The export's own parameters, as a direct download names them."""
    if spec.wallet_id is not None:
        scope = (WALLET_PARAMETER, to_global_id("Wallet", spec.wallet_id))
    else:
        scope = (CENTER_PARAMETER, to_global_id("BusinessCenter", _center_of(spec)))
    return [scope, ("from", rules.utc_text(spec.start)), ("to", rules.utc_text(spec.end))]


@dataclass(frozen=True, slots=True)
class LinkClaims:
    """What a genuine, unexpired link says: its user, and its export's own parameters."""

    user_id: int
    params: list[tuple[str, str]]


def verified_link(
    kind: ExportKind, params: Iterable[tuple[str, str]], secret: bytes, now: datetime
) -> LinkClaims | None:
    """None for a link that was not signed with `secret` (any parameter changed, added,
    removed or repeated) or has expired: the edge answers both as NOT_FOUND."""
    pairs = list(params)
    if not rules.signature_matches(secret, kind.value, pairs):
        return None
    signed = dict(pairs)  # signed by us: each name is there once
    user, expires = signed.get(USER_PARAMETER, ""), signed.get(EXPIRES_PARAMETER, "")
    if not (user.isascii() and user.isdigit() and expires.isascii() and expires.isdigit()):
        return None
    if len(user) > 18 or len(expires) > 12 or now.timestamp() >= int(expires):
        return None
    own = {rules.SIGNATURE_PARAMETER, USER_PARAMETER, EXPIRES_PARAMETER}
    return LinkClaims(int(user), [(name, value) for name, value in pairs if name not in own])
