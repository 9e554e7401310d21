"""Refunds of unused credit balance to the original payment method (DESIGN §9): out of cash
at once, one provider refund per payment (newest first, never more than it holds), the
provider's outcome followed, declined or failed money back in cash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from adledger import clock
from adledger.jobs.refunds import send_refunds_job
from tests.api.campaign_fixtures import Shop, open_shop
from tests.helpers import add_member, top_up

REQUEST = """
mutation($input: RequestRefundInput!) { requestRefund(input: $input) {
  __typename
  ... on RequestRefundSuccess { refundRequest { id status amount { amount } } }
  ... on UserError { code message field }
} }"""
APPROVE = """
mutation($input: ApproveRefundInput!) { approveRefund(input: $input) {
  __typename
  ... on RefundDecisionSuccess { refundRequest { id status
    refunds { amount { amount } status providerReference failure } } }
  ... on UserError { code message field }
} }"""
DECLINE = """
mutation($input: DeclineRefundInput!) { declineRefund(input: $input) {
  __typename
  ... on RefundDecisionSuccess { refundRequest { id status note } }
  ... on UserError { code message field }
} }"""
REQUESTS = """
query($status: RefundRequestStatus) { refundRequests(status: $status) { edges { node {
  id status amount { amount } refunds { amount { amount } status providerReference } } } } }"""


async def _paid_top_ups(api, webhooks, shop: Shop, *amounts: str) -> None:
    """Each a payment at the provider: a lot refunds may go back to."""
    for amount in amounts:
        made = await top_up(api, shop.center.wallet_id, shop.token, amount=amount)
        assert (await webhooks.pay(made["topUp"]["invoice"]["paymentReference"])).status_code == 200


async def _request(api, shop: Shop, amount: str, token: str | None = None, key: str | None = None):
    payload: dict[str, Any] = {
        "walletId": shop.center.wallet_id,
        "amount": {"amount": amount, "currencyCode": "USD"},
    }
    if key is not None:
        payload["idempotencyKey"] = key
    return (await api.data(REQUEST, {"input": payload}, token or shop.token))["requestRefund"]


async def _approve(api, staff, request_id: str) -> dict[str, Any]:
    data = await api.data(APPROVE, {"input": {"refundRequestId": request_id}}, staff.token)
    return dict(data["approveRefund"])


BALANCE = """query($id: ID!) { wallet(id: $id) { balance {
  cash { amount } pendingRefunds { amount } } } }"""


async def _cash(api, shop: Shop) -> tuple[str, str]:
    found = (await api.data(BALANCE, {"id": shop.center.wallet_id}, shop.token))["wallet"]
    return found["balance"]["cash"]["amount"], found["balance"]["pendingRefunds"]["amount"]


async def _settle(webhooks, reference: str, outcome: str, event_id: str) -> Any:
    refund = await webhooks.sandbox.settle_refund(reference, outcome)
    return await webhooks.post(webhooks.sandbox.refund_event_payload(refund, event_id))


async def test_a_refund_goes_back_payment_by_payment_newest_first(api, users, webhooks) -> None:
    # given two paid top-ups, 100.00 then 80.00 (cash 180.00)
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00", "80.00")
    staff = await users.create("billing", staff=True)
    # when 150.00 is requested back
    requested = await _request(api, shop, "150.00")
    # then it leaves cash at once, and waits
    assert requested["refundRequest"]["status"] == "REQUESTED"
    assert await _cash(api, shop) == ("30.00", "150.00")
    # when staff approve
    approved = await _approve(api, staff, requested["refundRequest"]["id"])
    # then two provider refunds: 80.00 to the newest payment, 70.00 to the older
    refunds = approved["refundRequest"]["refunds"]
    assert [(r["amount"]["amount"], r["status"]) for r in refunds] == [
        ("80.00", "PENDING"),
        ("70.00", "PENDING"),
    ]
    assert all(r["providerReference"].startswith("re_sandbox_") for r in refunds)
    # when the provider says both succeeded
    for n, refund in enumerate(refunds):
        answer = await _settle(webhooks, refund["providerReference"], "succeeded", f"evt_r{n}")
        assert answer.json()["outcome"] == "PROCESSED"
    # then the request succeeded and nothing is pending any more
    listed = await api.data(REQUESTS, {"status": "SUCCEEDED"}, staff.token)
    assert [e["node"]["amount"]["amount"] for e in listed["refundRequests"]["edges"]] == ["150.00"]
    assert await _cash(api, shop) == ("30.00", "0.00")


async def test_a_failed_provider_refund_returns_the_money_to_cash(
    api, users, webhooks, sessions
) -> None:
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    staff = await users.create("billing", staff=True)
    requested = await _request(api, shop, "60.00")
    approved = await _approve(api, staff, requested["refundRequest"]["id"])
    [refund] = approved["refundRequest"]["refunds"]

    answer = await _settle(webhooks, refund["providerReference"], "failed", "evt_fail")
    again = await _settle(webhooks, refund["providerReference"], "failed", "evt_fail")

    assert (answer.json()["outcome"], again.json()["outcome"]) == ("PROCESSED", "DUPLICATE")
    assert await _cash(api, shop) == ("100.00", "0.00")
    listed = await api.data(REQUESTS, {"status": "FAILED"}, staff.token)
    assert len(listed["refundRequests"]["edges"]) == 1
    async with sessions() as session:
        kinds = await session.scalars(
            text(
                "SELECT p.kind FROM ledger_postings p JOIN ledger_accounts a ON a.id = "
                "p.account_id WHERE a.kind = 'cash' AND p.kind LIKE 'REFUND%' ORDER BY p.id"
            )
        )
        assert list(kinds) == ["REFUND", "REFUND_RETURNED"]
    # and the payment may be refunded again
    retried = await _request(api, shop, "100.00")
    assert retried["__typename"] == "RequestRefundSuccess"


async def test_a_declined_request_returns_the_money_and_nothing_is_sent(api, users, webhooks):
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    staff = await users.create("billing", staff=True)
    requested = await _request(api, shop, "40.00")
    request_id = requested["refundRequest"]["id"]

    declined = await api.data(
        DECLINE, {"input": {"refundRequestId": request_id, "reason": "not eligible"}}, staff.token
    )
    late = await _approve(api, staff, request_id)

    assert declined["declineRefund"]["refundRequest"]["status"] == "DECLINED"
    assert late["code"] == "INVALID_STATE"
    assert await _cash(api, shop) == ("100.00", "0.00")


async def test_bad_requests_are_refused_and_change_nothing(api, users, webhooks) -> None:
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    other = await open_shop(api, users)
    analyst = await users.create("analyst")
    await add_member(api, shop.center, analyst, "FINANCE_ANALYST")

    above_cash = await _request(api, shop, "100.01")
    above_lots_shop = await open_shop(api, users)
    await users.fund(above_lots_shop.center.wallet_id, "10.00")  # cash no payment brought
    above_lots = await _request(api, above_lots_shop, "1.00")
    foreign = await _request(api, shop, "1.00", token=other.token)
    forbidden = await _request(api, shop, "1.00", token=analyst.token)
    precise = await _request(api, shop, "1.001")

    assert above_cash["code"] == "INSUFFICIENT_FUNDS"
    assert above_lots["code"] == "INSUFFICIENT_FUNDS" and "payments" in above_lots["message"]
    assert foreign["code"] == "NOT_FOUND"
    assert forbidden["code"] == "FORBIDDEN"
    assert precise["code"] == "INVALID_INPUT"
    assert await _cash(api, shop) == ("100.00", "0.00")


async def test_the_same_key_twice_is_one_request_and_two_requests_never_exceed_the_lots(
    api, users, webhooks
) -> None:
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    await users.fund(shop.center.wallet_id, "50.00")  # cash no payment brought

    first = await _request(api, shop, "30.00", key="r-1")
    replay = await _request(api, shop, "30.00", key="r-1")
    beyond = await _request(api, shop, "80.00")

    assert first["refundRequest"]["id"] == replay["refundRequest"]["id"]
    assert beyond["code"] == "INSUFFICIENT_FUNDS"  # 30.00 of the 100.00 already requested
    assert await _cash(api, shop) == ("120.00", "30.00")


async def test_a_refund_the_provider_did_not_take_is_made_by_the_job(
    api, users, webhooks, jobs, app_provider
) -> None:
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    staff = await users.create("billing", staff=True)
    requested = await _request(api, shop, "25.00")
    app_provider.fail_next_refund()

    approved = await _approve(api, staff, requested["refundRequest"]["id"])
    report = await send_refunds_job(jobs, clock.now())
    again = await send_refunds_job(jobs, clock.now())

    assert approved["refundRequest"]["refunds"][0]["providerReference"] is None
    assert (report.made, str(again)) == (1, "no refunds to send")


REFUND_REJECTED = """
mutation($input: RefundRejectedCampaignInput!) { refundRejectedCampaign(input: $input) {
  __typename
  ... on RequestRefundSuccess { refundRequest { status amount { amount }
    refunds { amount { amount } status } } }
  ... on UserError { code message field }
} }"""


async def _rejected_campaign(api, users, webhooks) -> tuple[Shop, str]:
    """A campaign paid from a paid top-up's money, rejected in review: credited back."""
    from tests.helpers import campaign_action, create_campaign, launch

    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "300.00")
    staff = await users.create("reviewer", staff=True)
    move = """mutation($input: TransferBalanceInput!) { transferBalance(input: $input) {
      __typename } }"""
    given = {
        "fromWalletId": shop.center.wallet_id,
        "toWalletId": shop.account.wallet_id,
        "amount": {"amount": "200.00", "currencyCode": "USD"},
    }
    moved = (await api.data(move, {"input": given}, shop.token))["transferBalance"]
    assert moved["__typename"] == "TransferBalanceSuccess", moved
    created = await create_campaign(api, shop.account, shop.token, budget="200.00")
    campaign_id = created["campaign"]["id"]
    await launch(api, campaign_id, shop.token)
    rejected = await campaign_action(
        api, "rejectCampaign", campaign_id, staff.token, reason="creatives failed review"
    )
    assert rejected["__typename"] == "CampaignActionSuccess", rejected
    return shop, campaign_id


async def test_a_rejected_campaigns_money_goes_back_to_the_card_at_once(
    api, users, webhooks
) -> None:
    shop, campaign_id = await _rejected_campaign(api, users, webhooks)

    refunded = await api.data(REFUND_REJECTED, {"input": {"campaignId": campaign_id}}, shop.token)
    again = await api.data(REFUND_REJECTED, {"input": {"campaignId": campaign_id}}, shop.token)

    request = refunded["refundRejectedCampaign"]["refundRequest"]
    assert (request["status"], request["amount"]["amount"]) == ("SENT", "200.00")
    assert [r["amount"]["amount"] for r in request["refunds"]] == ["200.00"]
    assert again["refundRejectedCampaign"]["code"] == "INVALID_STATE"


async def test_only_a_rejected_campaign_of_ones_own_is_refunded(api, users, webhooks) -> None:
    from tests.helpers import create_campaign

    shop, _ = await _rejected_campaign(api, users, webhooks)
    draft = (await create_campaign(api, shop.account, shop.token, budget="60.00"))["campaign"]
    stranger = await open_shop(api, users)

    not_rejected = await api.data(
        REFUND_REJECTED, {"input": {"campaignId": draft["id"]}}, shop.token
    )
    foreign = await api.data(
        REFUND_REJECTED, {"input": {"campaignId": draft["id"]}}, stranger.token
    )

    assert not_rejected["refundRejectedCampaign"]["code"] == "INVALID_STATE"
    assert foreign["refundRejectedCampaign"]["code"] == "NOT_FOUND"


AUDIT = """query($id: ID!) { businessCenter(id: $id) { auditTrail(first: 10) { edges { node {
  action subject actorEmail amount { amount } detail } } } } }"""


async def test_every_refund_step_is_in_the_centers_audit_trail(api, users, webhooks) -> None:
    # given a refund requested, approved, then failed at the provider; and a declined one
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    staff = await users.create("billing", staff=True)
    first = await _request(api, shop, "30.00")
    approved = await _approve(api, staff, first["refundRequest"]["id"])
    reference = approved["refundRequest"]["refunds"][0]["providerReference"]
    await _settle(webhooks, reference, "failed", "evt_audit")
    second = await _request(api, shop, "5.00")
    await api.data(
        DECLINE,
        {"input": {"refundRequestId": second["refundRequest"]["id"], "reason": "duplicate"}},
        staff.token,
    )
    standard = await users.create("standard")
    await add_member(api, shop.center, standard, "STANDARD")
    # when the center's audit trail is read
    trail = await api.data(AUDIT, {"id": shop.center.id}, shop.token)
    hidden = await api.data(AUDIT, {"id": shop.center.id}, standard.token)
    # then every step is there, newest first, with who did it
    events = [e["node"] for e in trail["businessCenter"]["auditTrail"]["edges"]]
    assert [(e["action"], e["actorEmail"], e["amount"]["amount"]) for e in events] == [
        ("REFUND_DECLINED", staff.email, "5.00"),
        ("REFUND_REQUESTED", shop.admin.email, "5.00"),
        ("REFUND_FAILED", None, "30.00"),
        ("REFUND_APPROVED", staff.email, "30.00"),
        ("REFUND_REQUESTED", shop.admin.email, "30.00"),
    ]
    assert events[0]["detail"] == "duplicate"
    assert hidden["businessCenter"]["auditTrail"]["edges"] == []


async def test_a_refund_event_arriving_before_our_own_record_settles_it_once(
    api, users, webhooks, jobs, app_provider, sessions
) -> None:
    from adledger.payments.port import RefundRequest

    # given an approved refund the provider made, but whose answer never reached us
    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")
    staff = await users.create("billing", staff=True)
    requested = await _request(api, shop, "40.00")
    app_provider.fail_next_refund()
    await _approve(api, staff, requested["refundRequest"]["id"])
    async with sessions() as session:
        refund_id, payment = (
            await session.execute(
                text(
                    "SELECT r.id, l.payment_reference FROM refunds r "
                    "JOIN payment_lots l ON l.id = r.lot_id"
                )
            )
        ).one()
    made = await webhooks.sandbox.refund(
        RefundRequest(
            key=f"refund:{refund_id}",
            payment_reference=payment,
            amount_minor=4000,
            currency="USD",
            metadata={"adledger_refund_id": str(refund_id)},
        )
    )
    # when its success event arrives first, then the job sends it again
    answer = await _settle(webhooks, made.reference, "succeeded", "evt_early")
    report = await send_refunds_job(jobs, clock.now())
    # then it is matched by its metadata, settled once, and the job finds nothing to redo
    assert answer.json()["outcome"] == "PROCESSED"
    assert str(report) == "no refunds to send"
    listed = await api.data(REQUESTS, {"status": "SUCCEEDED"}, staff.token)
    [node] = [e["node"] for e in listed["refundRequests"]["edges"]]
    assert [(r["status"], r["providerReference"]) for r in node["refunds"]] == [
        ("SUCCEEDED", made.reference)
    ]
    assert await _cash(api, shop) == ("60.00", "0.00")


async def test_concurrent_requests_never_take_more_than_the_balance(api, users, webhooks) -> None:
    import asyncio

    shop = await open_shop(api, users)
    await _paid_top_ups(api, webhooks, shop, "100.00")

    answers = await asyncio.gather(*(_request(api, shop, "60.00") for _ in range(3)))

    kinds = sorted(a["__typename"] for a in answers)
    assert kinds == ["InsufficientFundsError", "InsufficientFundsError", "RequestRefundSuccess"]
    assert await _cash(api, shop) == ("40.00", "60.00")
