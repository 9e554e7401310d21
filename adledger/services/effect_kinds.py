"""The kinds of outbox effect and their constructors: pure data (kind, payload, and a key
named by what the effect acts on), nothing run. The services that make a change declare
its effects with these (services/outbox.py); the runner (services/effects.py) runs each
kind; the edge derives a key from them to read how an effect went after the commit.

Apart from the runner, so a service declares without importing what runs effects (the
runner imports the services)."""

from __future__ import annotations

from adledger.services.outbox import Effect

ISSUE_INVOICE = "invoice.issue"
COLLECT_INVOICE = "invoice.collect"
VOID_SHORTFALL = "invoice.void"
SEND_REFUNDS = "refunds.send"
OPEN_CARD_SETUP = "card_setup.open"
SEQUENCE_EVENTS = "events.sequence"
OPEN_RECHARGE = "auto_recharge.open"


def issue_invoice_key(invoice_id: int) -> str:
    return f"invoice:{invoice_id}:issue"


def issue_invoice(invoice_id: int, provider_key: str) -> Effect:
    payload = {"invoice_id": invoice_id, "provider_key": provider_key}
    return Effect(ISSUE_INVOICE, payload, issue_invoice_key(invoice_id))


def collect_invoice_key(invoice_id: int) -> str:
    return f"invoice:{invoice_id}:collect"


def collect_invoice(invoice_id: int) -> Effect:
    return Effect(COLLECT_INVOICE, {"invoice_id": invoice_id}, collect_invoice_key(invoice_id))


def void_shortfall(invoice_id: int) -> Effect:
    return Effect(VOID_SHORTFALL, {"invoice_id": invoice_id}, f"invoice:{invoice_id}:void")


def send_refunds(request_id: int) -> Effect:
    key = f"refund-request:{request_id}:send"
    return Effect(SEND_REFUNDS, {"request_id": request_id}, key)


def open_card_setup_key(setup_id: int) -> str:
    return f"card-setup:{setup_id}:open"


def open_card_setup(setup_id: int, center_id: int) -> Effect:
    payload = {"setup_id": setup_id, "center_id": center_id}
    return Effect(OPEN_CARD_SETUP, payload, open_card_setup_key(setup_id))


def open_recharge_key(wallet_id: int, crossing: int) -> str:
    return f"wallet:{wallet_id}:recharge-{crossing}:open"


def open_recharge(wallet_id: int, crossing: int, amount: int) -> Effect:
    """The wallet's `crossing`-th automatic recharge, decided for `amount` (minor units)
    by the transaction that crossed its threshold: its invoice opened and charged after
    that commit (services/auto_recharge.py)."""
    payload = {"wallet_id": wallet_id, "crossing": crossing, "amount": amount}
    return Effect(OPEN_RECHARGE, payload, open_recharge_key(wallet_id, crossing))
