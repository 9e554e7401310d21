"""Conservation of a campaign's money (DESIGN §9), as pure rules.

For every campaign, what it was paid (`taken`: funded from a balance, shortfall invoices,
installments, or drawn as it spent) is accounted for, whatever the order of the rules:

    taken = spent + held + credited + forfeited + made_good_reserve

`held` is what its ledger accounts hold (reserve, voucher_reserve, hold, receivable).
`credited` is every credit back to the wallet (budget reductions, cancellation,
under-delivery and paused credits; a rejected campaign's refund goes on from there).
A makegood is counted in two parts: `made_good_reserve`, given back from the campaign's
reserve (it lowers the budget by as much, like a budget reduction), and
`made_good_revenue`, a reversal of billing for what was billed above the delivered value
(it is not in the equation: it leaves revenue, not the campaign).

For a GUARANTEED campaign the customer pays at most price x delivered / booked. `price`
is what the booking was bought for: the budget at launch, raised with the budget, never
lowered (a budget cut or a makegood gives money back; it does not re-price what was
delivered, or the order of the rules would change what comes back). The delivered value
V = floor(price x min(delivered, booked) / booked); the under-delivered share = price - V;
overbilled = max(0, spent - V). A makegood compensates only what the sweep or a
cancellation does not already return: at most the share less earlier makegoods, drawn
from the reserve left first, and from revenue only for the overbilled part not yet
reversed.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from adledger.domain.errors import InvalidState

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CampaignBooks:
    """A campaign's counters, as its row keeps them."""

    price: int
    budget: int
    spent: int
    impressions: int
    booked: int | None
    """Booked impressions (GUARANTEED); None: nothing is measured against a booking."""
    made_good_reserve: int = 0
    made_good_revenue: int = 0

    @property
    def delivered_value(self) -> int:
        """price x delivered / booked, rounded down: the customer pays at most the exact
        value. Without a booking, everything billed counts as delivered."""
        if not self.booked:
            return self.spent
        return self.price * min(max(self.impressions, 0), self.booked) // self.booked

    @property
    def underdelivered_share(self) -> int:
        """What the impressions not delivered are worth."""
        return max(self.price - self.delivered_value, 0) if self.booked else 0

    @property
    def overbilled(self) -> int:
        """What was billed above the delivered value."""
        return max(self.spent - self.delivered_value, 0)

    @property
    def made_good(self) -> int:
        return self.made_good_reserve + self.made_good_revenue


@dataclass(frozen=True, slots=True)
class Makegood:
    """What a makegood gives back, by where it is drawn from."""

    from_reserve: int
    from_revenue: int

    @property
    def total(self) -> int:
        return self.from_reserve + self.from_revenue


NOTHING = Makegood(0, 0)


def makegood_allowed(books: CampaignBooks, reserve_left: int) -> Makegood:
    """The most a makegood may give back now: the under-delivered share less earlier
    makegoods, and never more than the reserve left plus the overbilled part not yet
    reversed. Drawn from the reserve first (`reserve_left`: 0 for a campaign that draws as
    it spends), then from revenue."""
    owed = books.underdelivered_share - books.made_good
    from_revenue_at_most = max(books.overbilled - books.made_good_revenue, 0)
    amount = min(owed, max(reserve_left, 0) + from_revenue_at_most)
    if amount <= 0:
        return NOTHING
    from_reserve = min(amount, max(reserve_left, 0))
    return Makegood(from_reserve, amount - from_reserve)


def at_most(allowed: Makegood, amount: int) -> Makegood:
    """`allowed`, cut down to `amount` (an offer accepted after the campaign's money
    moved): the reserve part first."""
    from_reserve = min(allowed.from_reserve, max(amount, 0))
    from_revenue = min(allowed.from_revenue, max(amount, 0) - from_reserve)
    return Makegood(from_reserve, from_revenue)


def reverse_billing(amount: int, rooms: Sequence[tuple[K, int]]) -> list[tuple[K, int]]:
    """A makegood's part from revenue, back to the buckets the campaign's spend was drawn
    from (`rooms`: each with what was billed from it and not reversed yet, in the reverse
    of the order spend draws them), so voucher money never comes back as cash."""
    parts: list[tuple[K, int]] = []
    left = amount
    for bucket, room in rooms:
        part = min(left, max(room, 0))
        if part:
            parts.append((bucket, part))
            left -= part
    if left > 0:
        raise InvalidState("the campaign's spend was not billed from where a makegood would go")
    return parts


def price_after(price: int, budget: int, launched: bool) -> int:
    """The price once the budget is `budget`: before launch, the budget; after, raised
    with it and never lowered."""
    return max(price, budget) if launched else budget


def paid_and_kept(taken: int, credited: int, forfeited: int, made_good_reserve: int) -> int:
    """What a campaign was paid and neither gave back nor forfeited: what it holds and
    what it spent."""
    return taken - credited - forfeited - made_good_reserve


def check_raise_after_makegood(books: CampaignBooks, budget: int) -> None:
    """A makegood was measured on the price and the delivery of its moment; more budget
    would change the price it was measured on (and could turn what it reversed into
    billing that was delivered)."""
    if budget > books.budget and books.made_good:
        raise InvalidState(
            "the campaign was made good for what it did not deliver; its budget may be "
            "lowered, not raised: launch a new campaign for more delivery"
        )


# -- the ledger check ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CampaignSums:
    """The money counters of a campaign, from its row or from its postings. From the
    postings, `other` is what moved on the campaign's own accounts under a kind no rule
    here accounts for (it must be 0)."""

    taken: int = 0
    spent: int = 0
    credited: int = 0
    forfeited: int = 0
    made_good_reserve: int = 0
    made_good_revenue: int = 0
    other: int = 0

    def __add__(self, more: CampaignSums) -> CampaignSums:
        return CampaignSums(*(a + b for a, b in zip(self.as_tuple(), more.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[int, int, int, int, int, int, int]:
        return (
            self.taken,
            self.spent,
            self.credited,
            self.forfeited,
            self.made_good_reserve,
            self.made_good_revenue,
            self.other,
        )

    @property
    def given_back(self) -> int:
        return self.credited + self.made_good_reserve

    def unexplained(self, held: int) -> int:
        """taken - (spent + held + credited + forfeited + made good from the reserve): 0
        when every cent is accounted for. From the postings, money moved on the campaign's
        accounts under no known rule (`other`) is in `held` and in none of the rest."""
        return self.taken - (self.spent + held + self.given_back + self.forfeited)


COUNTER_NAMES = (
    "taken",
    "spent",
    "credited",
    "forfeited",
    "made_good_reserve",
    "made_good_revenue",
)


@dataclass(frozen=True, slots=True)
class Breach:
    rule: str
    detail: str


CONSERVED = "a campaign's money is conserved: taken = spent + held + given back + forfeited"
POSTED = "a campaign's counters are what its postings say"
GIVEN_BACK = "a campaign gives back at most what it was paid and did not bill"
REVERSED = "a campaign's billing is reversed only for what was billed above its delivered value"


def breaches(
    campaign_id: int, counters: CampaignSums, posted: CampaignSums, held: int, books: CampaignBooks
) -> list[Breach]:
    """Every way campaign `campaign_id` breaks conservation: by its counters, by its
    postings, a counter its postings do not back, more given back than paid and not
    billed, or billing reversed beyond what was billed above the delivered value."""
    name = f"campaign {campaign_id}"
    found: list[Breach] = []
    for source, sums in (("counters", counters), ("postings", posted)):
        if sums.unexplained(held):
            found.append(Breach(CONSERVED, f"{name}: by its {source}, {_equation(sums, held)}"))
    for field in COUNTER_NAMES:
        kept, moved = getattr(counters, field), getattr(posted, field)
        if kept != moved:
            found.append(Breach(POSTED, f"{name}: {field} {kept}, posted {moved}"))
    if counters.given_back > max(counters.taken - counters.spent, 0):
        detail = f"gave back {counters.given_back}, paid {counters.taken}, billed {counters.spent}"
        found.append(Breach(GIVEN_BACK, f"{name}: {detail}"))
    if counters.made_good_revenue > books.overbilled:
        detail = (
            f"reversed {counters.made_good_revenue} of its billing, billed {books.spent} for "
            f"a delivered value of {books.delivered_value}"
        )
        found.append(Breach(REVERSED, f"{name}: {detail}"))
    return found


def _equation(sums: CampaignSums, held: int) -> str:
    accounted = sums.taken - sums.unexplained(held)
    return (
        f"taken {sums.taken}, accounted for {accounted} (spent {sums.spent} + held {held} + "
        f"credited {sums.credited} + forfeited {sums.forfeited} + made good from the reserve "
        f"{sums.made_good_reserve})"
    )
