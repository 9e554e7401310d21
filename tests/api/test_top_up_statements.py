"""What a top-up and the `invoice.paid` that credits it cost the database, counted (issue
28): an upper bound per request, so a statement added on this path is noticed. Counts, not
times: they hold on any machine."""

from __future__ import annotations

from tests.api.test_top_ups import center  # noqa: F401  (fixture: a subscribed, funded center)

TOP_UP = """mutation($input: TopUpWalletInput!) { topUpWallet(input: $input) {
  __typename ... on TopUpWalletSuccess { topUp { invoice { paymentReference } } } } }"""


def _given(center) -> dict:  # noqa: F811
    return {"walletId": center.wallet_id, "amount": {"amount": "10.00", "currencyCode": "USD"}}


async def test_a_top_up_and_its_paid_webhook_stay_within_their_statement_budgets(
    api,
    center,  # noqa: F811
    webhooks,
    statements,
) -> None:
    # given a center whose first top-up was paid already
    first = (await api.data(TOP_UP, {"input": _given(center)}, center.admin.token))["topUpWallet"]
    await webhooks.pay(first["topUp"]["invoice"]["paymentReference"])
    statements.count = 0

    # when it tops up 10.00 again, answering the invoice's payment reference
    answer = (await api.data(TOP_UP, {"input": _given(center)}, center.admin.token))["topUpWallet"]
    top_up_statements = statements.count
    invoice, event_type = await webhooks.sandbox.settle(
        answer["topUp"]["invoice"]["paymentReference"], "paid"
    )
    statements.count = 0
    # and Stripe's signed invoice.paid arrives
    response = await webhooks.post(webhooks.payload(invoice, event_type))
    webhook_statements = statements.count

    # then both did their work: the invoice issued, the payment credited
    assert answer["topUp"]["invoice"]["paymentReference"].startswith("in_sandbox_")
    assert response.json() == {"received": True, "outcome": "PROCESSED"}
    # within their budgets (BEGIN and COMMIT not counted): the top-up's transaction (the
    # wallet and the caller's role, the cash account locked, subscription and pending
    # top-ups, the invoice counter, invoice + line + top-up, its effect, its event with
    # the center's counter locked, the event numbered), its effect's two (claimed with the
    # invoice read; the provider's reference recorded and the effect done) and the
    # answer's reads
    assert top_up_statements <= 15, top_up_statements
    # the event stored, the invoice locked and paid, its payment lot, the top-up marked
    # paid, the ledger credit, the event rows with their counter locked, their numbering
    assert webhook_statements <= 18, webhook_statements
