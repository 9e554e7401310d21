"""CSV exports in the schema: the kind, the input of createExport and its success."""

from __future__ import annotations

from datetime import datetime

import strawberry

from adledger.domain import exports

ExportKind = strawberry.enum(
    exports.ExportKind,
    name="ExportKind",
    description=(
        "TRANSACTIONS: a wallet's transactions (or every wallet's of a business center); "
        "INVOICES: a business center's invoices."
    ),
)


@strawberry.input(
    description=(
        "What to export: exactly one of walletId and businessCenterId (INVOICES: "
        "businessCenterId), and the instants [from, to), at most 13 months apart."
    )
)
class CreateExportInput:
    wallet_id: strawberry.ID | None = strawberry.field(
        default=None, description="One wallet, or every wallet of a business center."
    )
    business_center_id: strawberry.ID | None = None
    kind: ExportKind
    from_: datetime = strawberry.field(name="from", description="Included.")
    to: datetime = strawberry.field(description="Excluded.")


@strawberry.type
class CreateExportSuccess:
    url: str = strawberry.field(
        description=(
            "A short-lived signed link to a CSV file; a browser can open it without a token."
        )
    )
    expires_at: datetime = strawberry.field(
        description="The link answers NOT_FOUND (404) from then on."
    )
