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
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Awaitable, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
import stripe

from adledger.domain.errors import PaymentProviderFailed
from adledger.payments.port import CustomerRequest, InvoiceRequest, ProviderInvoice

T = TypeVar("T")

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
        invoice = await self._call(
            "retrieve the invoice", self._client.v1.invoices.retrieve_async(reference)
        )
        return self._normalise(invoice)

    async def void_invoice(self, reference: str, key: str) -> ProviderInvoice:
        invoice = await self._call(
            "void the invoice",
            self._client.v1.invoices.void_invoice_async(reference, None, _key(f"{key}:void")),
        )
        return self._normalise(invoice)

    def _create_draft(self, request: InvoiceRequest) -> Awaitable[stripe.Invoice]:
        params: stripe.params.InvoiceCreateParams = {
            "customer": request.customer_reference,
            "currency": request.currency.lower(),
            "collection_method": "send_invoice",
            "days_until_due": request.days_until_due,
            "auto_advance": False,
            "pending_invoice_items_behavior": "exclude",
            "description": request.description,
            "metadata": dict(request.metadata),
        }
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
        """Await one SDK call; every Stripe failure becomes PaymentProviderFailed."""
        try:
            return await call
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
        detail = (exc.user_message or "").replace(self._api_key, "***")
        message = f"Stripe could not {action} ({', '.join(facts)})"
        message = f"{message}: {detail}" if detail else message
        return _SECRET_RE.sub("***", message)

    def _normalise(self, invoice: stripe.Invoice) -> ProviderInvoice:
        try:
            return _to_provider_invoice(invoice.to_dict())
        except (KeyError, TypeError, ValueError) as exc:
            raise PaymentProviderFailed(f"Stripe answered an unexpected invoice: {exc}") from exc


def _key(idempotency_key: str) -> stripe.RequestOptions:
    return {"idempotency_key": idempotency_key}


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
        metadata={str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
    )


def _typed(data: Mapping[str, Any], name: str, kind: type[T]) -> T:
    value = data[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"{name} is {value!r}")
    return value
