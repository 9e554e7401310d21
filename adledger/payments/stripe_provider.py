"""The payment-provider port implemented with the official Stripe SDK (`StripeClient`).

Only the SDK's async methods are used, over an httpx client, so a slow Stripe never
blocks the event loop that serves the API. Every POST carries an idempotency key
derived from `InvoiceRequest.key` / `CustomerRequest.key`: a retry after a timeout
reaches the object Stripe already made instead of making a second one.

Invoice call order: create the draft invoice (`pending_invoice_items_behavior=exclude`,
so no stray pending item of the customer lands on it), create the invoice item on it
(`invoice=<id>`), then finalize. Putting the item on the invoice explicitly is what
Stripe recommends since invoices stopped sweeping pending items by default, and it
means a retried top-up can never pull another top-up's item onto its invoice.

Saved cards: a SetupIntent (`usage=off_session`, cards only) lets Stripe.js save the
customer's card; `charge_invoice` later pays an open invoice with it, off session. Cards
only is `allowed_payment_method_types`: on the API version this SDK pins, writing
`payment_method_types` is refused (400, payment_method_types_no_longer_supported). A
decline (a `CardError`, HTTP 402) is `PaymentDeclined`, not an outage; an invoice Stripe
says is already paid (a retry whose first answer was lost) answers as the paid invoice.

Payments and refunds: since API version 2025-03-31 an invoice has no `payment_intent` or
`charge` of its own; what paid it is in its `payments` list (InvoicePayment objects, each
naming its PaymentIntent). Stripe leaves that list out unless it is expanded, so
`retrieve_invoice` and `charge_invoice` ask for `expand=["payments"]`; the PaymentIntent of
the paid one is the invoice's `payment_reference`, which `refund` gives money back to.
A refund's outcome may come later: `pending` (and `requires_action`) until Stripe says
`succeeded` or `failed`, and even a succeeded refund can fail afterwards.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
import stripe

from adledger.domain.errors import PaymentDeclined, PaymentProviderFailed
from adledger.payments.port import (
    Card,
    CardSetup,
    CardSetupRequest,
    CustomerRequest,
    InvoiceRequest,
    ProviderInvoice,
    ProviderRefund,
    RefundRequest,
)

T = TypeVar("T")

# Stripe's refund statuses as the port's: pending, succeeded, failed, canceled.
_REFUND_STATUSES = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}

# Stripe echoes (masked) keys in authentication errors; never let one reach a message.
_SECRET_RE = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[0-9A-Za-z*]+")


class _AsyncHttpxClient(stripe.HTTPClient):
    """The SDK's transport, async only.

    `stripe.HTTPXClient` hands the encoded form body to httpx as `data=<str>`, which
    httpx 0.28 deprecates with a DeprecationWarning on every POST; with warnings as
    errors the SDK even reports that as a connection failure. This client sends the
    body as `content=` and otherwise behaves like the SDK's: network errors become
    retryable `APIConnectionError`s, so the SDK's own retry loop (with the same
    idempotency key) applies.
    """

    name = "adledger-httpx"

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            verify=ssl.create_default_context(cafile=stripe.ca_bundle_path),
        )

    async def request_async(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        post_data: str | bytes | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(method, url, headers=headers, content=post_data)
        except httpx.HTTPError as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"network error talking to Stripe: {_explain(exc)}",
                should_retry=True,
            ) from exc
        return response.content, response.status_code, response.headers

    async def sleep_async(self, secs: float) -> None:
        await asyncio.sleep(secs)

    def close(self) -> None:
        """Nothing synchronous to close: only `close_async` releases the connections."""

    async def close_async(self) -> None:
        await self._client.aclose()


def _explain(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class StripeProvider:
    """`PaymentProvider` over the Stripe API; use `async with` or call `aclose()`."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout_seconds: float = 20.0,
        max_network_retries: int = 2,
    ) -> None:
        """`api_base` points the SDK at another host (a local fake in tests)."""
        self._api_key = api_key
        self._http = _AsyncHttpxClient(timeout_seconds)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def aclose(self) -> None:
        await self._http.close_async()

    async def __aenter__(self) -> StripeProvider:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def create_customer(self, request: CustomerRequest) -> str:
        params: stripe.params.CustomerCreateParams = {
            "name": request.name,
            "metadata": dict(request.metadata),
        }
        if request.email:
            params["email"] = request.email
        customer = await self._call(
            "create the customer",
            self._client.v1.customers.create_async(params, _key(f"{request.key}:customer")),
        )
        return str(customer.id)

    async def create_invoice(self, request: InvoiceRequest) -> ProviderInvoice:
        """Draft invoice, then its one item, then finalize: an open invoice to pay."""
        draft = await self._call("create the invoice", self._create_draft(request))
        await self._call("create the invoice item", self._create_item(request, str(draft.id)))
        invoice = await self._call(
            "finalize the invoice",
            self._client.v1.invoices.finalize_invoice_async(
                str(draft.id), None, _key(f"{request.key}:finalize")
            ),
        )
        return self._normalise(invoice)

    async def retrieve_invoice(self, reference: str) -> ProviderInvoice:
        params: stripe.params.InvoiceRetrieveParams = {"expand": ["payments"]}
        invoice = await self._call(
            "retrieve the invoice", self._client.v1.invoices.retrieve_async(reference, params)
        )
        return self._normalise(invoice)

    async def void_invoice(self, reference: str, key: str) -> ProviderInvoice:
        invoice = await self._call(
            "void the invoice",
            self._client.v1.invoices.void_invoice_async(reference, None, _key(f"{key}:void")),
        )
        return self._normalise(invoice)

    async def create_card_setup(self, request: CardSetupRequest) -> CardSetup:
        params: stripe.params.SetupIntentCreateParams = {
            "customer": request.customer_reference,
            "usage": "off_session",
            "allowed_payment_method_types": ["card"],
            "metadata": dict(request.metadata),
        }
        intent = await self._call(
            "create the card setup",
            self._client.v1.setup_intents.create_async(params, _key(f"{request.key}:setup_intent")),
        )
        return _parse("card setup", intent, _to_card_setup)

    async def retrieve_card_setup(self, reference: str) -> CardSetup:
        intent = await self._call(
            "retrieve the card setup", self._client.v1.setup_intents.retrieve_async(reference)
        )
        return _parse("card setup", intent, _to_card_setup)

    async def retrieve_card(self, reference: str) -> Card:
        method = await self._call(
            "retrieve the card", self._client.v1.payment_methods.retrieve_async(reference)
        )
        return _parse("card", method, _to_card)

    async def charge_invoice(self, reference: str, card: str, key: str) -> ProviderInvoice:
        """Pay with the saved card, off session; the port says what each outcome means.
        Stripe stores a decline under the idempotency key as well: the same key replays
        it, so a new attempt (after the customer changed the card, say) needs a new key."""
        params: stripe.params.InvoicePayParams = {
            "payment_method": card,
            "off_session": True,
            "expand": ["payments"],
        }
        pay = self._client.v1.invoices.pay_async(reference, params, _key(f"{key}:pay"))
        try:
            invoice = await self._call("pay the invoice", pay)
        except PaymentProviderFailed as failure:
            if not isinstance(failure.__cause__, stripe.InvalidRequestError):
                raise
            return await self._paid_already(reference, failure)
        return self._normalise(invoice)

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """A refund of `amount_minor` on the PaymentIntent, in its own currency; Stripe
        refuses more than is left unrefunded (a provider failure)."""
        params: stripe.params.RefundCreateParams = {
            "payment_intent": request.payment_reference,
            "amount": request.amount_minor,
            "metadata": dict(request.metadata),
        }
        refund = await self._call(
            "refund the payment",
            self._client.v1.refunds.create_async(params, _key(f"{request.key}:refund")),
        )
        return _parse("refund", refund, _to_provider_refund)

    async def retrieve_refund(self, reference: str) -> ProviderRefund:
        refund = await self._call(
            "retrieve the refund", self._client.v1.refunds.retrieve_async(reference)
        )
        return _parse("refund", refund, _to_provider_refund)

    async def _paid_already(
        self, reference: str, failure: PaymentProviderFailed
    ) -> ProviderInvoice:
        """Stripe refuses to pay an invoice that is paid (by a first attempt whose answer
        was lost, say); whatever its error code, the invoice's own status decides."""
        invoice = await self.retrieve_invoice(reference)
        if invoice.status != "paid":
            raise failure
        return invoice

    def _create_draft(self, request: InvoiceRequest) -> Awaitable[stripe.Invoice]:
        params: stripe.params.InvoiceCreateParams = {
            "customer": request.customer_reference,
            "currency": request.currency.lower(),
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        if request.charge_automatically:
            params["collection_method"] = "charge_automatically"
        else:
            params["collection_method"] = "send_invoice"
            params["days_until_due"] = request.days_until_due
        return self._client.v1.invoices.create_async(params, _key(f"{request.key}:invoice"))

    def _create_item(self, request: InvoiceRequest, invoice_id: str) -> Awaitable[Any]:
        params: stripe.params.InvoiceItemCreateParams = {
            "customer": request.customer_reference,
            "invoice": invoice_id,
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        return self._client.v1.invoice_items.create_async(params, _key(f"{request.key}:item"))

    async def _call(self, action: str, call: Awaitable[T]) -> T:
        """Await one SDK call; a declined card becomes PaymentDeclined, every other
        Stripe failure PaymentProviderFailed."""
        try:
            return await call
        except stripe.CardError as exc:
            raise PaymentDeclined(self._describe_decline(exc)) from exc
        except stripe.StripeError as exc:
            raise PaymentProviderFailed(self._describe(action, exc)) from exc

    def _describe(self, action: str, exc: stripe.StripeError) -> str:
        """Enough to act on (kind, HTTP status, Stripe code and request id), no secrets."""
        facts = [type(exc).__name__]
        if exc.http_status is not None:
            facts.append(f"HTTP {exc.http_status}")
        if exc.code:
            facts.append(f"code {exc.code}")
        if exc.request_id:
            facts.append(f"request {exc.request_id}")
        return self._scrub(f"Stripe could not {action} ({', '.join(facts)})", exc)

    def _describe_decline(self, exc: stripe.CardError) -> str:
        """Why the bank said no (Stripe's code and decline code) and its message."""
        decline_code = exc.error.decline_code if exc.error else None
        facts = [exc.code or "card_error"]
        if decline_code and decline_code != exc.code:
            facts.append(f"decline code {decline_code}")
        if exc.request_id:
            facts.append(f"request {exc.request_id}")
        return self._scrub(f"the card was declined ({', '.join(facts)})", exc)

    def _scrub(self, message: str, exc: stripe.StripeError) -> str:
        """The message with Stripe's own text appended, every secret masked."""
        detail = (exc.user_message or "").replace(self._api_key, "***")
        message = f"{message}: {detail}" if detail else message
        return _SECRET_RE.sub("***", message)

    def _normalise(self, invoice: stripe.Invoice) -> ProviderInvoice:
        return _parse("invoice", invoice, _to_provider_invoice)


def _key(idempotency_key: str) -> stripe.RequestOptions:
    return {"idempotency_key": idempotency_key}


def _parse(what: str, answer: stripe.StripeObject, parse: Callable[[Mapping[str, Any]], T]) -> T:
    """Stripe's answer through `parse`; an unexpected shape is a provider failure."""
    try:
        return parse(answer.to_dict())
    except (KeyError, TypeError, ValueError) as exc:
        raise PaymentProviderFailed(f"Stripe answered an unexpected {what}: {exc}") from exc


def _to_provider_invoice(data: Mapping[str, Any]) -> ProviderInvoice:
    """Stripe's invoice as the port's dataclass; a missing or mistyped field raises."""
    hosted_url = data.get("hosted_invoice_url")
    return ProviderInvoice(
        reference=_typed(data, "id", str),
        status=_typed(data, "status", str),
        currency=_typed(data, "currency", str).upper(),
        amount_due=_typed(data, "amount_due", int),
        amount_paid=_typed(data, "amount_paid", int),
        hosted_url=hosted_url if isinstance(hosted_url, str) else None,
        metadata=_metadata(data),
        payment_reference=_paid_payment_intent(data),
    )


def _paid_payment_intent(data: Mapping[str, Any]) -> str | None:
    """The PaymentIntent of the invoice's first payment with status paid, from its
    `payments` (present only when expanded); None when none is paid or not answered."""
    if data.get("payments") is None:
        return None
    for payment in _typed(_typed(data, "payments", dict), "data", list):
        if not isinstance(payment, Mapping):
            raise TypeError(f"a payment is {payment!r}")
        if payment.get("status") != "paid":
            continue
        paid_with = _typed(payment, "payment", dict)
        if paid_with.get("type") == "payment_intent":
            intent = _reference(paid_with, "payment_intent")
            if intent is not None:
                return intent
    return None


def _to_provider_refund(data: Mapping[str, Any]) -> ProviderRefund:
    """Stripe's refund as the port's dataclass, its status normalised; an unknown status
    raises like a missing field."""
    status = _typed(data, "status", str)
    if status not in _REFUND_STATUSES:
        raise ValueError(f"refund status {status!r}")
    return ProviderRefund(
        reference=_typed(data, "id", str),
        status=_REFUND_STATUSES[status],
        amount=_typed(data, "amount", int),
        currency=_typed(data, "currency", str).upper(),
        payment_reference=_reference(data, "payment_intent"),
        metadata=_metadata(data),
    )


def _typed(data: Mapping[str, Any], name: str, kind: type[T]) -> T:
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{name} is {value!r}")
    return value


def _to_card_setup(data: Mapping[str, Any]) -> CardSetup:
    return CardSetup(
        reference=_typed(data, "id", str),
        client_secret=_typed(data, "client_secret", str),
        status=_typed(data, "status", str),
        customer_reference=_reference(data, "customer"),
        payment_method=_reference(data, "payment_method"),
        metadata=_metadata(data),
    )


def _to_card(data: Mapping[str, Any]) -> Card:
    if data.get("type") != "card":
        raise ValueError(f"payment method of type {data.get('type')!r}, not a card")
    card = _typed(data, "card", dict)
    return Card(
        reference=_typed(data, "id", str),
        customer_reference=_reference(data, "customer"),
        brand=_typed(card, "brand", str),
        last4=_typed(card, "last4", str),
        exp_month=_typed(card, "exp_month", int),
        exp_year=_typed(card, "exp_year", int),
    )


def _reference(data: Mapping[str, Any], name: str) -> str | None:
    """An id Stripe answers as a string, as the expanded object, or as null."""
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return _typed(value, "id", str)
    raise TypeError(f"{name} is {value!r}")


def _metadata(data: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in (data.get("metadata") or {}).items()}
