"""The billing department and card plans (DESIGN §8): a GUARANTEED campaign canceled by its
customer opens a cancellation request that staff resolve with a credit of the unspent
rest; staff void or discount installments by hand, with a reason, audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from adledger.jobs.installments import issue_invoices_job
from tests.api.installment_fixtures import card_campaign, card_shop, days_from_now, launch, plan_of
from tests.helpers import balance, campaign_action, record_spend, spend_event

REQUESTS = """
query($status: CancellationRequestStatus) { cancellationRequests(status: $status) {
  edges { node { id status resolution amount { amount } note campaign { id status } } }
} }"""
RESOLVE = """
mutation($input: ResolveCancellationRequestInput!) { resolveCancellationRequest(input: $input) {
  __typename
  ... on ResolveCancellationRequestSuccess { campaign { id status credited { amount } } }
  ... on UserError { code message field }
} }"""
VOID = """
mutation($input: VoidInvoiceInput!) { voidInvoice(input: $input) {
  __typename
  ... on AdjustInvoiceSuccess { invoice { id status amountDue { amount } } }
  ... on UserError { code message field }
} }"""
DISCOUNT = """
mutation($input: DiscountInvoiceInput!) { discountInvoice(input: $input) {
  __typename
  ... on AdjustInvoiceSuccess { invoice { id status discount { amount } amountDue { amount } } }
  ... on UserError { code message field }
} }"""


async def _requests(api, token: str, status: str | None = "OPEN") -> Any:
    return await api.post(REQUESTS, {"status": status}, token)


async def _guaranteed_canceled(api, users, webhooks, spent: str = "100.00"):
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop, delivery="GUARANTEED")
    await launch(api, shop, campaign_id)
    event = spend_event("e1", campaign_id, spent)
    await record_spend(api, [event], shop.adserver.token)
    canceled = await campaign_action(api, "cancelCampaign", campaign_id, shop.token)
    assert canceled["__typename"] == "CampaignActionSuccess", canceled
    return shop, campaign_id


async def test_canceling_a_guaranteed_card_campaign_opens_a_request_for_billing(
    api, users, webhooks, jobs
) -> None:
    # when a GUARANTEED campaign paid by card is canceled by its customer
    shop, campaign_id = await _guaranteed_canceled(api, users, webhooks)
    # then it stops delivering, its money stays where it is, and staff see a request
    plan = await plan_of(api, shop, campaign_id)
    assert (plan["status"], plan["credited"]["amount"]) == ("CANCELED", "0.00")
    seen = await api.data(
        "query($id: ID!) { campaign(id: $id) { cancellationRequest { status resolution } } }",
        {"id": campaign_id},
        shop.token,
    )
    assert seen["campaign"]["cancellationRequest"] == {"status": "OPEN", "resolution": None}
    late = await record_spend(api, [spend_event("e2", campaign_id, "1.00")], shop.adserver.token)
    assert late["refused"][0]["reason"] == "CAMPAIGN_NOT_DELIVERING"
    staff = await users.create("billing", staff=True)
    listed = (await _requests(api, staff.token))["data"]["cancellationRequests"]["edges"]
    assert [(e["node"]["status"], e["node"]["campaign"]["id"]) for e in listed] == [
        ("OPEN", campaign_id)
    ]
    # and no later installment is issued for it
    assert str(await issue_invoices_job(jobs, days_from_now(14.1))) == "no invoices due"


async def test_staff_resolve_the_request_with_a_credit_of_the_unspent_rest(
    api, users, webhooks
) -> None:
    shop, campaign_id = await _guaranteed_canceled(api, users, webhooks, spent="100.00")
    staff = await users.create("billing", staff=True)
    request_id = (await _requests(api, staff.token))["data"]["cancellationRequests"]["edges"][0][
        "node"
    ]["id"]

    resolved = await api.data(
        RESOLVE,
        {"input": {"requestId": request_id, "note": "customer asked for credit"}},
        staff.token,
    )
    again = await api.data(
        RESOLVE, {"input": {"requestId": request_id, "note": "twice"}}, staff.token
    )

    result = resolved["resolveCancellationRequest"]
    assert result["campaign"]["credited"]["amount"] == "233.33"
    assert again["resolveCancellationRequest"]["code"] == "INVALID_STATE"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "233.33"
    listed = await _requests(api, staff.token, "RESOLVED")
    node = listed["data"]["cancellationRequests"]["edges"][0]["node"]
    assert (node["resolution"], node["amount"]["amount"]) == ("CREDIT", "233.33")
    # the invoices still owed are the billing department's to void by hand
    plan = await plan_of(api, shop, campaign_id)
    for invoice in plan["invoices"][1:]:
        voided = await api.data(
            VOID, {"input": {"invoiceId": invoice["id"], "reason": "canceled"}}, staff.token
        )
        assert voided["voidInvoice"]["invoice"]["status"] == "VOID"


async def test_only_staff_see_requests_and_adjust_invoices(api, users, webhooks, sessions) -> None:
    shop, campaign_id = await _guaranteed_canceled(api, users, webhooks)
    plan = await plan_of(api, shop, campaign_id)
    second = plan["invoices"][1]["id"]

    listed = await _requests(api, shop.token)
    voided = await api.data(VOID, {"input": {"invoiceId": second, "reason": "x"}}, shop.token)
    money = {"amount": "10.00", "currencyCode": "USD"}
    discounted = await api.data(
        DISCOUNT, {"input": {"invoiceId": second, "amount": money, "reason": "x"}}, shop.token
    )

    assert listed["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert voided["voidInvoice"]["code"] == "FORBIDDEN"
    assert discounted["discountInvoice"]["code"] == "FORBIDDEN"
    assert (await plan_of(api, shop, campaign_id))["invoices"][1]["status"] == "SCHEDULED"
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM invoice_adjustments")) == 0


async def test_staff_discount_an_installment_with_a_reason_audited(
    api, users, webhooks, sessions
) -> None:
    # given an IF_AVAILABLE plan with its second installment still scheduled
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    second = (await plan_of(api, shop, campaign_id))["invoices"][1]["id"]
    staff = await users.create("billing", staff=True)
    money = {"amount": "33.33", "currencyCode": "USD"}
    # when staff discount it
    discounted = await api.data(
        DISCOUNT,
        {"input": {"invoiceId": second, "amount": money, "reason": "goodwill"}},
        staff.token,
    )
    # then it asks 300.00, and the adjustment is on record
    invoice = discounted["discountInvoice"]["invoice"]
    assert (invoice["discount"]["amount"], invoice["amountDue"]["amount"]) == ("33.33", "300.00")
    async with sessions() as session:
        rows = (
            await session.execute(text("SELECT action, amount, reason FROM invoice_adjustments"))
        ).all()
    assert [tuple(r) for r in rows] == [("DISCOUNT", 3333, "goodwill")]
    trail = await api.data(
        """query($id: ID!) { businessCenter(id: $id) { auditTrail { edges { node {
          action actorEmail amount { amount } detail } } } } }""",
        {"id": shop.center.id},
        shop.token,
    )
    [event] = [e["node"] for e in trail["businessCenter"]["auditTrail"]["edges"]]
    assert (event["action"], event["actorEmail"], event["amount"]["amount"]) == (
        "INVOICE_DISCOUNTED",
        staff.email,
        "33.33",
    )
    assert event["detail"].endswith(": goodwill")


async def test_bad_adjustments_are_refused_and_change_nothing(api, users, webhooks) -> None:
    shop = await card_shop(api, users, webhooks)
    campaign_id = await card_campaign(api, shop)
    await launch(api, shop, campaign_id)
    plan = await plan_of(api, shop, campaign_id)
    first, second = plan["invoices"][0]["id"], plan["invoices"][1]["id"]
    staff = await users.create("billing", staff=True)

    def discount(invoice: str, amount: str, reason: str = "r") -> dict[str, Any]:
        money = {"amount": amount, "currencyCode": "USD"}
        return {"input": {"invoiceId": invoice, "amount": money, "reason": reason}}

    paid = await api.data(VOID, {"input": {"invoiceId": first, "reason": "r"}}, staff.token)
    whole = await api.data(DISCOUNT, discount(second, "333.33"), staff.token)
    precise = await api.data(DISCOUNT, discount(second, "1.001"), staff.token)
    blank = await api.data(DISCOUNT, discount(second, "1.00", "   "), staff.token)

    assert paid["voidInvoice"]["code"] == "INVALID_STATE"
    assert whole["discountInvoice"]["code"] == "INVALID_INPUT"
    assert precise["discountInvoice"]["code"] == "INVALID_INPUT"
    assert blank["discountInvoice"]["code"] == "INVALID_INPUT"
    after = await plan_of(api, shop, campaign_id)
    assert [i["amountDue"]["amount"] for i in after["invoices"]] == ["333.33", "333.33", "333.34"]


async def test_staff_resolve_the_request_with_a_refund_to_the_card(api, users, webhooks) -> None:
    # given a canceled GUARANTEED campaign: 333.33 paid by card, 100.00 delivered
    shop, _ = await _guaranteed_canceled(api, users, webhooks, spent="100.00")
    staff = await users.create("billing", staff=True)
    listed = await _requests(api, staff.token)
    request_id = listed["data"]["cancellationRequests"]["edges"][0]["node"]["id"]
    # when staff resolve it with a refund
    resolved = await api.data(
        RESOLVE,
        {"input": {"requestId": request_id, "note": "refund asked", "resolution": "REFUND"}},
        staff.token,
    )
    # then 233.33 goes back to the card payment (pending at the provider), not to cash
    assert resolved["resolveCancellationRequest"]["__typename"] == (
        "ResolveCancellationRequestSuccess"
    )
    refunds = await api.data(
        """{ refundRequests(status: SENT) { edges { node { amount { amount }
          refunds { amount { amount } providerReference } } } } }""",
        None,
        staff.token,
    )
    [node] = [e["node"] for e in refunds["refundRequests"]["edges"]]
    assert node["amount"]["amount"] == "233.33"
    [refund] = node["refunds"]
    assert refund["amount"]["amount"] == "233.33"
    assert (await balance(api, shop.account.wallet_id, shop.token))["cash"]["amount"] == "0.00"
    # and once the provider confirms it, it is gone for good
    settled = await webhooks.sandbox.settle_refund(refund["providerReference"], "succeeded")
    answer = await webhooks.post(webhooks.sandbox.refund_event_payload(settled, "evt_cr"))
    assert answer.json()["outcome"] == "PROCESSED"
