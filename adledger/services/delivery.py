"""A campaign's status changes here and nowhere else, so that its delivering intervals
follow (issue 23): entering SCHEDULED or ACTIVE opens one at `now` (the campaign's
`delivering_since`), leaving them closes it (a row of campaign_delivery_intervals). Spend
is billed only for delivering time, so a status change that forgot its interval would
bill or refuse the wrong moments; the database refuses such a row (a CHECK ties
`delivering_since` to the status).

Each change is also a partner event (`campaign.paused`, `campaign.stopped`, ...), recorded
here for the same reason: no path can change a status without telling partners.

The caller holds the campaign's lock (or is creating it) and saves it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from adledger.domain.campaigns import DELIVERING, CampaignStatus, closed_interval
from adledger.services import events
from adledger.store import campaigns as repo
from adledger.store.models import Campaign


def set_status(
    session: AsyncSession, campaign: Campaign, status: CampaignStatus, now: datetime
) -> None:
    open_since = campaign.delivering_since
    was = CampaignStatus(campaign.status) if campaign.status else CampaignStatus.DRAFT
    campaign.status = status.value
    events.record_campaign(session, campaign, was, now)
    if status in DELIVERING:
        if open_since is None:
            campaign.delivering_since = now
    elif open_since is not None:
        repo.add_delivery_interval(session, campaign.id, closed_interval(open_since, now))
        campaign.delivering_since = None
