"""A stateful fake of the part of the Stripe API that `StripeProvider` uses.

It runs on a pytest-httpserver `HTTPServer` (the plugin's `httpserver` fixture, or its
own via `StripeFake.running()`); point the provider at it with `api_base=fake.api_base`:

    @pytest.fixture
    def stripe_fake(httpserver: HTTPServer) -> Iterator[StripeFake]:
        fake = StripeFake(httpserver)
        yield fake
        fake.check()  # re-raises an exception a handler hit, if any

    async def test_pay(stripe_fake: StripeFake) -> None:
        async with StripeProvider("sk_test_x", api_base=stripe_fake.api_base) as stripe:
            ...
        assert stripe_fake.count("POST", "/v1/invoices/{id}/pay") == 1

What it keeps in memory: customers, invoices (draft, then open on finalize, paid by a
successful pay, void), invoice items (their amounts make the invoice's amount_due),
setup intents and card payment methods, and what a successful pay makes: a succeeded
PaymentIntent and a paid InvoicePayment linking it to the invoice. Refunds go back to a
PaymentIntent, never more than is left unrefunded on it (400 amount_too_large; 400
charge_already_refunded once nothing is left); a failed or canceled refund gives its
amount back. Requests arrive form-encoded as the SDK sends them (`metadata[k]=v`,
`list[0]=x`); answers and errors have Stripe's JSON shapes.

Expansion, on every method, top-level fields only: `expand[0]=<field>` replaces an id by
its object, and an invoice's `payments` (which Stripe leaves out unless expanded, API
versions since 2025-03-31) is its list of InvoicePayments; any other field is a 400.

Idempotency as Stripe does it: a POST repeating an `Idempotency-Key` replays the first
answer (header `Idempotent-Replayed: true`) and does nothing again; the same key with
other parameters is a 400 idempotency_error. Answers are stored once the endpoint ran
(successes, card declines), not for requests refused as invalid (400/404).

Counting: every request lands in `calls` as a `Call` with its raw `path` and its
`route`, the path with each Stripe id (cus_, in_, ii_, seti_, pm_, pi_, re_) replaced by
`{id}`; its `params` leave out `expand`, which only shapes the answer and is kept apart
in `Call.expand` (idempotency still compares everything sent, `expand` included).
`count(method, path)` matches either, so `count("POST", "/v1/invoices/{id}/pay")` counts
every pay and `count("POST", f"/v1/invoices/{invoice}/pay")` one invoice's; `replayed=True`
counts only idempotent replays, `replayed=False` leaves them out. `charges` lists the pay
attempts that really ran (replays excluded): "paid once" is `successful_charges(id) == 1`.
`refunds` holds every refund made (replays make none); `refunded(payment_intent)` is what
is taken back from it so far.

Test helpers play what happens outside the API: `add_customer`, `confirm_setup` (Stripe.js
saving a card on a setup intent), `add_card`, `decline_charges` / `accept_charges` (the
bank's answer to every later pay with a card), `payment_intent_of` (what paid an
invoice), `delay_refunds` (later refunds start pending instead of succeeded at once, as
card refunds usually do), `settle_refund` / `fail_refund` (a refund's outcome arriving
later), `lose_next_answer` (the work is done, the answer never arrives) and `fail_next`
(an outage: nothing done).

The API version pinned by the installed SDK refuses `payment_method_types` on setup
intents (400, payment_method_types_no_longer_supported); so does the fake.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Params = dict[str, Any]
Answer = tuple[int, dict[str, Any]]

_ID_RE = re.compile(r"^(?:cus|in|ii|seti|pm|pi|re)_[0-9A-Za-z]+$")
_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PREFIXES = {
    "cus": "customers",
    "in": "invoices",
    "seti": "setup_intents",
    "pm": "cards",
    "pi": "payment_intents",
    "re": "refunds",
}
_NOUNS = {
    "customers": "customer",
    "invoices": "invoice",
    "setup_intents": "setup_intent",
    "cards": "payment_method",
    "payment_intents": "payment_intent",
    "refunds": "refund",
}
# Refunds whose amount is still taken from the payment (failed and canceled give it back).
_REFUND_TAKES = ("pending", "requires_action", "succeeded")


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    path: str
    route: str
    """The path with every Stripe id replaced by {id}: /v1/invoices/{id}/pay."""
    idempotency_key: str | None
    params: Params
    """What was sent, `expand` left out (it is in `expand`)."""
    status: int
    replayed: bool
    expand: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Charge:
    """One pay attempt that really ran (an idempotent replay is no charge)."""

    invoice: str
    payment_method: str
    amount: int
    currency: str
    succeeded: bool


class StripeError(Exception):
    """Raised by a handler: answered as Stripe's {"error": {...}} with `status`."""

    def __init__(self, status: int, kind: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": kind, "message": message, **extra}}


def _invalid(message: str, status: int = 400, **extra: str) -> StripeError:
    return StripeError(status, "invalid_request_error", message, **extra)


def parse_form(encoded: str) -> Params:
    """`a[b]=1&c[0]=x` as {"a": {"b": "1"}, "c": ["x"]}; every leaf stays a string."""
    tree: Params = {}
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        match = _KEY_RE.match(key)
        names = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])] if match else [key]
        node = tree
        for name in names[:-1]:
            node = node.setdefault(name, {})
        node[names[-1]] = value
    return {name: _lists(node) for name, node in tree.items()}


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(key.isdigit() for key in node):
        return [_lists(node[key]) for key in sorted(node, key=int)]
    return {key: _lists(value) for key, value in node.items()}


def route_of(path: str) -> str:
    return "/".join("{id}" if _ID_RE.match(part) else part for part in path.split("/"))


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


class StripeFake:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.customers: dict[str, dict[str, Any]] = {}
        self.invoices: dict[str, dict[str, Any]] = {}
        self.invoice_items: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.cards: dict[str, dict[str, Any]] = {}
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.invoice_payments: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.charges: list[Charge] = []
        self._declines: dict[str, tuple[str, str]] = {}
        self._refunds_start = "succeeded"
        self._answers: dict[str, tuple[str, Params, Answer]] = {}
        self._lost: list[tuple[str, str]] = []
        self._outages: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        server.expect_request(re.compile(r"^/v1/")).respond_with_handler(self._handle)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[StripeFake]:
        """A fake on its own server, for fixtures that outlive one test."""
        server = HTTPServer(host="127.0.0.1", port=0)
        server.start()
        try:
            yield cls(server)
        finally:
            server.clear()
            server.stop()

    @property
    def api_base(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def check(self) -> None:
        """Re-raise the first exception a handler hit (a bug in the fake or the test)."""
        self.server.check_handler_errors()

    # Counting ---------------------------------------------------------------------

    def count(self, method: str, path: str, *, replayed: bool | None = None) -> int:
        """Requests to `path` (a raw path or a route with {id}), replays included
        unless `replayed` says otherwise."""
        return sum(
            1
            for call in self.calls
            if call.method == method
            and path in (call.path, call.route)
            and replayed in (None, call.replayed)
        )

    def successful_charges(self, invoice: str) -> int:
        return sum(1 for charge in self.charges if charge.invoice == invoice and charge.succeeded)

    def refunded(self, payment_intent: str) -> int:
        """What refunds take back from the PaymentIntent (failed and canceled ones not)."""
        return sum(
            refund["amount"]
            for refund in self.refunds.values()
            if refund["payment_intent"] == payment_intent and refund["status"] in _REFUND_TAKES
        )

    # Test helpers -----------------------------------------------------------------

    def add_customer(self, name: str = "Acme", *, customer_id: str | None = None) -> str:
        """A customer; under `customer_id` when given (one the app already knows, made
        earlier by another provider such as the sandbox)."""
        customer = self._create_customer({"name": name})[1]
        if customer_id is not None:
            del self.customers[customer["id"]]
            customer["id"] = customer_id
            self.customers[customer_id] = customer
        return str(customer["id"])

    def add_card(self, customer: str | None, *, declining: bool = False) -> str:
        """A card payment method attached to `customer`, as Stripe.js would make it."""
        card_id = _new_id("pm")
        self.cards[card_id] = {
            "id": card_id,
            "object": "payment_method",
            "type": "card",
            "card": {
                "brand": "visa",
                "last4": "0341" if declining else "4242",
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "country": "US",
            },
            "customer": customer,
            "metadata": {},
            "livemode": False,
            "created": int(time.time()),
        }
        if declining:
            self.decline_charges(card_id)
        return card_id

    def confirm_setup(self, setup_intent: str, declining: bool = False) -> str:
        """Play Stripe.js: a card saved for the intent's customer, the intent succeeded."""
        intent = self.setup_intents[setup_intent]
        if intent["status"] != "requires_payment_method":
            raise ValueError(f"{setup_intent} is {intent['status']}")
        card_id = self.add_card(intent["customer"], declining=declining)
        intent.update(status="succeeded", payment_method=card_id)
        return card_id

    def decline_charges(
        self, card: str, code: str = "card_declined", decline_code: str = "generic_decline"
    ) -> None:
        """Every later pay with `card` answers 402 card_error; the invoice stays open."""
        self._declines[card] = (code, decline_code)

    def accept_charges(self, card: str) -> None:
        self._declines.pop(card, None)

    def payment_intent_of(self, invoice: str) -> str:
        """The PaymentIntent of the invoice's paid payment (KeyError while unpaid)."""
        for payment in self._payments_of(invoice):
            if payment["status"] == "paid":
                return str(payment["payment"]["payment_intent"])
        raise KeyError(f"{invoice} has no paid payment")

    def delay_refunds(self, delayed: bool = True) -> None:
        """Later refunds start pending (until `settle_refund` or `fail_refund`) instead of
        succeeded at once; False brings back the default."""
        self._refunds_start = "pending" if delayed else "succeeded"

    def settle_refund(self, refund_id: str) -> None:
        """The bank took a pending refund: it succeeded."""
        refund = self.refunds[refund_id]
        if refund["status"] not in ("pending", "requires_action"):
            raise ValueError(f"{refund_id} is {refund['status']}")
        refund.update(status="succeeded", pending_reason=None)

    def fail_refund(self, refund_id: str, reason: str = "expired_or_canceled_card") -> None:
        """The refund failed after it was made (from pending, or even once succeeded, as
        Stripe reports asynchronously): its amount is refundable again."""
        refund = self.refunds[refund_id]
        if refund["status"] not in _REFUND_TAKES:
            raise ValueError(f"{refund_id} is {refund['status']}")
        refund.update(status="failed", failure_reason=reason, pending_reason=None)

    def lose_next_answer(self, method: str, route: str) -> None:
        """The next such request runs (and its answer is stored under its idempotency
        key), but the client gets a 500, as if the connection dropped on the way back."""
        self._lost.append((method, route))

    def fail_next(self, method: str, route: str) -> None:
        """The next such request does nothing and answers 500 api_error (an outage)."""
        self._outages.append((method, route))

    # HTTP -------------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        with self._lock:
            method, path = request.method, request.path
            params = parse_form(
                request.get_data(as_text=True)
                if method == "POST"
                else request.query_string.decode()
            )
            key = request.headers.get("Idempotency-Key") if method == "POST" else None
            status, body, replayed = self._answer(method, path, params, key)
            shown = {name: value for name, value in params.items() if name != "expand"}
            expand = tuple(params.get("expand", []))
            self.calls.append(
                Call(method, path, route_of(path), key, shown, status, replayed, expand)
            )
        headers = {"Request-Id": _new_id("req")}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(json.dumps(body), status, headers, content_type="application/json")

    def _answer(
        self, method: str, path: str, params: Params, key: str | None
    ) -> tuple[int, dict[str, Any], bool]:
        route = route_of(path)
        if (method, route) in self._outages:
            self._outages.remove((method, route))
            return 500, {"error": {"type": "api_error", "message": "fake outage"}}, False
        if key is not None and key in self._answers:
            return self._replay(key, path, params)
        status, body = self._run(method, path, params)
        body = copy.deepcopy(body)  # the object as it is now, not as it will become
        if key is not None and status not in (400, 404):
            self._answers[key] = (path, params, (status, body))
        if (method, route) in self._lost:
            self._lost.remove((method, route))
            return 500, {"error": {"type": "api_error", "message": "answer lost"}}, False
        return status, body, False

    def _replay(self, key: str, path: str, params: Params) -> tuple[int, dict[str, Any], bool]:
        first_path, first_params, (status, body) = self._answers[key]
        if (first_path, first_params) == (path, params):
            return status, body, True
        message = (
            "Keys for idempotent requests can only be used with the same parameters they "
            f"were first used with. Try using a key other than '{key}' if you meant to "
            "execute a different request."
        )
        return 400, {"error": {"type": "idempotency_error", "message": message}}, False

    def _run(self, method: str, path: str, params: Params) -> Answer:
        route = route_of(path)
        handler = self._routes().get((method, route))
        if handler is None:
            error = _invalid(f"Unrecognized request URL ({method}: {path}).", 404)
            return error.status, error.body
        ids = [part for part in path.split("/") if _ID_RE.match(part)]
        try:
            status, body = handler(ids, params)
            return status, self._expanded(body, params.get("expand", []))
        except StripeError as error:
            return error.status, error.body

    def _routes(self) -> dict[tuple[str, str], Callable[[list[str], Params], Answer]]:
        return {
            ("POST", "/v1/customers"): lambda _, p: self._create_customer(p),
            ("GET", "/v1/customers/{id}"): lambda i, p: self._get("customers", i[0], p),
            ("POST", "/v1/invoices"): lambda _, p: self._create_invoice(p),
            ("GET", "/v1/invoices/{id}"): lambda i, p: self._get("invoices", i[0], p),
            ("POST", "/v1/invoices/{id}/finalize"): lambda i, _: self._finalize(i[0]),
            ("POST", "/v1/invoices/{id}/pay"): lambda i, p: self._pay(i[0], p),
            ("POST", "/v1/invoices/{id}/void"): lambda i, _: self._void(i[0]),
            ("POST", "/v1/invoiceitems"): lambda _, p: self._create_item(p),
            ("POST", "/v1/setup_intents"): lambda _, p: self._create_setup(p),
            ("GET", "/v1/setup_intents/{id}"): lambda i, p: self._get("setup_intents", i[0], p),
            ("GET", "/v1/payment_methods/{id}"): lambda i, p: self._get("cards", i[0], p),
            ("GET", "/v1/payment_intents/{id}"): lambda i, p: self._get("payment_intents", i[0], p),
            ("POST", "/v1/refunds"): lambda _, p: self._create_refund(p),
            ("GET", "/v1/refunds/{id}"): lambda i, p: self._get("refunds", i[0], p),
        }

    # Objects ----------------------------------------------------------------------

    def _get(self, kind: str, object_id: str, params: Params) -> Answer:
        return 200, self._find(kind, object_id, 404)

    def _expanded(self, body: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        """A copy of the answer with `fields` expanded (the stored object is untouched)."""
        expanded = dict(body)
        for field in fields:
            if body.get("object") == "invoice" and field == "payments":
                expanded["payments"] = {
                    "object": "list",
                    "data": self._payments_of(body["id"]),
                    "has_more": False,
                    "url": f"/v1/invoice_payments?invoice={body['id']}",
                }
                continue
            if field not in body:
                raise _invalid(f"This property cannot be expanded ({field}).")
            reference = body[field]
            if isinstance(reference, str):
                expanded[field] = self._find(_PREFIXES[reference.split("_")[0]], reference)
        return expanded

    def _payments_of(self, invoice_id: str) -> list[dict[str, Any]]:
        return [p for p in self.invoice_payments.values() if p["invoice"] == invoice_id]

    def _find(self, kind: str, object_id: str, status: int = 400) -> dict[str, Any]:
        """The stored object itself; unknown ids are 404 in the path, 400 in a parameter."""
        found: dict[str, Any] | None = getattr(self, kind).get(object_id)
        if found is None:
            message = f"No such {_NOUNS[kind]}: '{object_id}'"
            raise _invalid(message, status, code="resource_missing")
        return found

    def _create_customer(self, params: Params) -> Answer:
        customer = {
            "id": _new_id("cus"),
            "object": "customer",
            "name": params.get("name"),
            "email": params.get("email"),
            "metadata": params.get("metadata", {}),
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
            "created": int(time.time()),
        }
        self.customers[customer["id"]] = customer
        return 200, customer

    def _create_invoice(self, params: Params) -> Answer:
        customer = self._find("customers", params.get("customer", ""))
        collection = params.get("collection_method", "charge_automatically")
        days = params.get("days_until_due")
        if collection == "send_invoice" and days is None:
            raise _invalid("Invoices with collection_method=send_invoice need days_until_due.")
        if collection == "charge_automatically" and days is not None:
            raise _invalid("days_until_due is only for collection_method=send_invoice.")
        invoice_id = _new_id("in")
        self.invoices[invoice_id] = {
            "id": invoice_id,
            "object": "invoice",
            "customer": customer["id"],
            "currency": params.get("currency", "usd"),
            "collection_method": collection,
            "days_until_due": int(days) if days is not None else None,
            "due_date": None,
            "auto_advance": params.get("auto_advance") != "false",
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
            "status": "draft",
            "amount_due": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "total": 0,
            "attempt_count": 0,
            "attempted": False,
            "number": None,
            "hosted_invoice_url": None,
            "status_transitions": {"finalized_at": None, "paid_at": None, "voided_at": None},
            "livemode": False,
            "created": int(time.time()),
        }
        return 200, self.invoices[invoice_id]

    def _create_item(self, params: Params) -> Answer:
        invoice = self._find("invoices", params.get("invoice", ""))
        if invoice["status"] != "draft" or params.get("customer") != invoice["customer"]:
            raise _invalid("Items can only go on a draft invoice of the same customer.")
        if params.get("currency") != invoice["currency"]:
            raise _invalid("The item's currency must be the invoice's.", param="currency")
        amount = int(params["amount"])
        item = {
            "id": _new_id("ii"),
            "object": "invoiceitem",
            "customer": invoice["customer"],
            "invoice": invoice["id"],
            "amount": amount,
            "currency": invoice["currency"],
            "description": params.get("description"),
            "metadata": params.get("metadata", {}),
        }
        self.invoice_items[item["id"]] = item
        for field in ("amount_due", "amount_remaining", "total"):
            invoice[field] += amount
        return 200, item

    def _finalize(self, invoice_id: str) -> Answer:
        invoice = self._find("invoices", invoice_id, 404)
        if invoice["status"] != "draft":
            raise _invalid(f"This invoice is already finalized (it is {invoice['status']}).")
        now = int(time.time())
        invoice.update(
            status="open",
            number=f"FAKE-{len(self.invoices):04d}",
            hosted_invoice_url=f"https://invoice.stripe.fake/i/{invoice_id}",
        )
        invoice["status_transitions"]["finalized_at"] = now
        if invoice["days_until_due"] is not None:
            invoice["due_date"] = now + invoice["days_until_due"] * 86400
        if invoice["amount_due"] == 0:  # Stripe settles a zero invoice on finalization
            self._mark_paid(invoice)
        return 200, invoice

    def _pay(self, invoice_id: str, params: Params) -> Answer:
        invoice = self._find("invoices", invoice_id, 404)
        if invoice["status"] != "open":
            raise _invalid(f"Invoice is already {invoice['status']}")
        if "payment_method" not in params:
            raise _invalid("This customer has no default payment method.")
        card = self._find("cards", params["payment_method"])
        if card["customer"] != invoice["customer"]:
            raise _invalid("The payment method is not attached to this invoice's customer.")
        declined = self._declines.get(card["id"])
        amount, currency = invoice["amount_due"], invoice["currency"]
        self.charges.append(Charge(invoice_id, card["id"], amount, currency, not declined))
        invoice.update(attempt_count=invoice["attempt_count"] + 1, attempted=True)
        if declined:
            code, decline_code = declined
            message = "Your card was declined."
            raise StripeError(402, "card_error", message, code=code, decline_code=decline_code)
        self._mark_paid(invoice)
        self._record_payment(invoice, card["id"])
        return 200, invoice

    def _record_payment(self, invoice: dict[str, Any], card: str) -> None:
        """What a successful pay leaves: a succeeded PaymentIntent (with its charge) and
        a paid InvoicePayment naming it."""
        now = int(time.time())
        amount, currency = invoice["amount_paid"], invoice["currency"]
        intent_id = _new_id("pi")
        self.payment_intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "customer": invoice["customer"],
            "payment_method": card,
            "latest_charge": _new_id("ch"),
            "status": "succeeded",
            "metadata": {},
            "livemode": False,
            "created": now,
        }
        payment_id = _new_id("inpay")
        self.invoice_payments[payment_id] = {
            "id": payment_id,
            "object": "invoice_payment",
            "invoice": invoice["id"],
            "amount_paid": amount,
            "amount_requested": amount,
            "currency": currency,
            "is_default": True,
            "status": "paid",
            "payment": {"type": "payment_intent", "payment_intent": intent_id},
            "status_transitions": {"canceled_at": None, "paid_at": now},
            "livemode": False,
            "created": now,
        }

    def _mark_paid(self, invoice: dict[str, Any]) -> None:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        invoice["status_transitions"]["paid_at"] = int(time.time())

    def _void(self, invoice_id: str) -> Answer:
        invoice = self._find("invoices", invoice_id, 404)
        if invoice["status"] != "open":
            raise _invalid(f"You can only void an open invoice; this one is {invoice['status']}.")
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = int(time.time())
        return 200, invoice

    def _create_setup(self, params: Params) -> Answer:
        if "payment_method_types" in params:
            raise _invalid(
                "payment_method_types is no longer supported; use allowed_payment_method_types.",
                code="payment_method_types_no_longer_supported",
            )
        customer = self._find("customers", params.get("customer", ""))
        intent_id = _new_id("seti")
        self.setup_intents[intent_id] = {
            "id": intent_id,
            "object": "setup_intent",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "status": "requires_payment_method",
            "customer": customer["id"],
            "payment_method": None,
            "usage": params.get("usage", "off_session"),
            "payment_method_types": params.get("allowed_payment_method_types", ["card"]),
            "metadata": params.get("metadata", {}),
            "last_setup_error": None,
            "next_action": None,
            "livemode": False,
            "created": int(time.time()),
        }
        return 200, self.setup_intents[intent_id]

    def _create_refund(self, params: Params) -> Answer:
        if "payment_intent" not in params:
            raise _invalid("One of `charge` or `payment_intent` is required.")
        intent = self._find("payment_intents", params["payment_intent"])
        left = intent["amount_received"] - self.refunded(intent["id"])
        if left == 0:
            message = f"Charge {intent['latest_charge']} has already been refunded."
            raise _invalid(message, code="charge_already_refunded")
        amount = int(params.get("amount", left))
        if amount < 1:
            raise _invalid("Invalid positive integer", param="amount")
        if amount > left:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        refund_id = _new_id("re")
        pending = self._refunds_start == "pending"
        self.refunds[refund_id] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "status": self._refunds_start,
            "pending_reason": "processing" if pending else None,
            "failure_reason": None,
            "reason": params.get("reason"),
            "metadata": params.get("metadata", {}),
            "balance_transaction": None,
            "receipt_number": None,
            "livemode": False,
            "created": int(time.time()),
        }
        return 200, self.refunds[refund_id]
