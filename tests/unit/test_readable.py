"""What a mutation's answer would read, found before it runs (schema/readable.py)."""

from __future__ import annotations

import inspect
import re

import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse

from adledger.domain.access import Permission
from adledger.resolvers.root import build_schema
from adledger.schema.readable import TooLarge, Variables, Walks, guards_of, root_fields

SCHEMA = build_schema()._schema
ROOTS = {"Query", "Mutation", "Subscription"}
READ, READ_MONEY = Permission.READ, Permission.READ_MONEY


def _resolver_sources() -> dict[tuple[str, str], str]:
    sources = {}
    for type_ in SCHEMA.type_map.values():
        fields = getattr(type_, "fields", None)
        if type_.name in ROOTS or type_.name.startswith("__") or not isinstance(fields, dict):
            continue
        for name, field in fields.items():
            definition = (field.extensions or {}).get("strawberry-definition")
            resolver = getattr(definition, "base_resolver", None)
            if resolver is not None:
                sources[(type_.name, name)] = inspect.getsource(resolver.wrapped_func)
    return sources


def _raises_forbidden(source: str) -> Permission | None:
    """The permission a resolver's source makes `authorize` check (it raises FORBIDDEN)."""
    if "self._member_or_staff(info)" in source:  # Campaign's: authorize(..., READ)
        return READ
    found = re.search(r"\.authorize\([^)]*Permission\.([A-Z_]+)\)", source)
    return None if found is None else Permission[found[1]]


def test_every_field_answering_forbidden_is_marked_with_the_permission_it_checks() -> None:
    sources = _resolver_sources()

    checked = {key: _raises_forbidden(source) for key, source in sources.items()}

    expected = {key: frozenset({p}) for key, p in checked.items() if p is not None}
    marked = {key: needs for key, needs in guards_of(SCHEMA).items() if key in sources}
    assert marked == expected


def test_the_audited_fields_are_those_a_role_may_be_refused() -> None:
    """The audit of issue 23: the fields of any mutation's answer that answer FORBIDDEN.
    A new one belongs here once `needs` marks it."""
    objects = {
        key: set(needs) for key, needs in guards_of(SCHEMA).items() if key[0] not in {"Node"}
    }

    assert objects == {
        ("Campaign", "adAccount"): {READ},
        ("Campaign", "shortfallInvoice"): {READ},
        ("Campaign", "invoices"): {READ},
        ("Campaign", "cancellationRequest"): {READ},
        ("Campaign", "makegoodFor"): {READ},
        ("Campaign", "notifications"): {READ},
        ("Campaign", "makegoodOffers"): {READ},
        ("AdAccount", "budget"): {READ},
        ("AdAccount", "budgetChangesRemainingToday"): {READ},
        ("AdAccount", "budgetChanges"): {READ},
        ("AdAccount", "availableToSpend"): {READ_MONEY},
        ("BusinessCenter", "events"): {READ_MONEY},
        ("BusinessCenter", "webhookEndpoints"): {READ_MONEY},
        ("WebhookEndpoint", "deliveries"): {READ_MONEY},
        ("Wallet", "autoRecharge"): {READ_MONEY},
        ("Wallet", "balance"): {READ_MONEY},
        ("Wallet", "pendingTopUps"): {READ_MONEY},
        ("Wallet", "transactions"): {READ_MONEY},
        ("Wallet", "runway"): {READ_MONEY},
        ("Wallet", "balanceAlerts"): {READ_MONEY},
        ("BusinessCenter", "runway"): {READ_MONEY},
        ("BusinessCenter", "balanceAt"): {READ_MONEY},
        ("Wallet", "balanceAt"): {READ_MONEY},
        ("Wallet", "statement"): {READ_MONEY},
    }


DOCUMENT = """
mutation($id: ID!, $events: [SpendEventInput!]!, $no: Boolean!) {
  launchCampaign(input: {campaignId: $id}) {
    ... on LaunchCampaignSuccess { campaign { ...Money } }
  }
  spend: recordSpend(input: {events: $events}) {
    ... on RecordSpendSuccess {
      accepted
      stoppedCampaigns { id adAccount @include(if: $no) { name } ... on Node { id } }
    }
  }
}
fragment Money on Campaign { ad: adAccount { ...Wallet } }
fragment Wallet on AdAccount { wallet { balance { cash { amount } } transactions { edges { node { id } } } } }
"""


def _roots(document: str, variables: dict[str, object], budget: int = 1000) -> list:
    parsed = parse(document)
    [operation] = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return root_fields(
        SCHEMA, fragments, operation, Variables(SCHEMA, operation, variables), budget
    )


def test_reads_are_found_through_fragments_and_aliases_and_skipped_ones_are_not() -> None:
    variables = {"id": "x", "events": [], "no": False}

    roots = _roots(DOCUMENT, variables)

    assert [(r.node.name.value, [(x.path, x.permission) for x in r.reads]) for r in roots] == [
        (
            "launchCampaign",
            [
                (("launchCampaign", "campaign", "ad"), READ),
                (("launchCampaign", "campaign", "ad", "wallet", "balance"), READ_MONEY),
                (("launchCampaign", "campaign", "ad", "wallet", "transactions"), READ_MONEY),
            ],
        ),
        ("recordSpend", []),
    ]


def test_a_selection_whose_directive_cannot_be_read_yet_counts() -> None:
    """Variables that execution will refuse: refusing more is the safe side."""
    roots = _roots(DOCUMENT, {"id": "x", "events": [], "no": "not a boolean"})

    assert [x.path for x in roots[1].reads] == [("spend", "stoppedCampaigns", "adAccount")]


@pytest.mark.parametrize("budget", [1, 5, 12])
def test_the_walk_stops_at_its_budget(budget: int) -> None:
    with pytest.raises(TooLarge):
        _roots(DOCUMENT, {"id": "x", "events": [], "no": True}, budget=budget)


def test_the_walk_goes_as_deep_as_the_parser_lets_a_document_go() -> None:
    """Without recursion: the depth limit refuses this in a request; here nothing does."""
    depth = 100
    inner = "id " + "makegoodFor { " * depth + "adAccount { name }" + " }" * depth
    document = f'mutation {{ pauseCampaign(input: {{campaignId: "x"}}) {{ ... on CampaignActionSuccess {{ campaign {{ {inner} }} }} }} }}'  # fmt: skip

    [root] = _roots(document, {}, budget=10_000)

    assert [len(x.path) for x in root.reads][-1] == depth + 3


INVOICES_OF_LAUNCHED = """mutation($n: Int) {
  launchCampaign(input: {campaignId: "x"}) {
    ... on LaunchCampaignSuccess { campaign { id invoices%s { pageInfo { hasNextPage } } } }
  }
}"""


@pytest.mark.parametrize(
    ("arguments", "variables", "problem"),
    [
        ("(first: -1)", {}, "`first` may not be negative"),
        ('(after: "zzz")', {}, "`after` is not a cursor"),
        ("(first: $n)", {"n": -5}, "`first` may not be negative"),
    ],
)
def test_page_arguments_the_answer_would_refuse_are_found_first(
    arguments: str, variables: dict[str, object], problem: str
) -> None:
    document = INVOICES_OF_LAUNCHED % arguments

    [root] = _roots(document, variables)

    assert [(b.path, b.problem) for b in root.bad_arguments] == [
        (("launchCampaign", "campaign", "invoices"), problem)
    ]


def test_page_arguments_it_would_take_are_not_refused() -> None:
    document = INVOICES_OF_LAUNCHED % "(first: $n)"

    [root] = _roots(document, {"n": 500})

    assert root.bad_arguments == ()


def _walked(walks: Walks, document: str, variables: dict[str, object]) -> list:
    parsed = parse(document)
    [operation] = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in parsed.definitions if isinstance(d, FragmentDefinitionNode)
    }
    given = Variables(SCHEMA, operation, variables)
    return walks.root_fields(document, None, fragments, operation, given, 1000)


def _paths(roots: list) -> list[tuple[str, ...]]:
    return [read.path for root in roots for read in root.reads]


def test_a_walk_that_read_no_variable_is_kept_for_the_same_text() -> None:
    # given a mutation whose answer depends on its text alone
    walks = Walks()
    text = 'mutation { launchCampaign(input: {campaignId: "x"}) { __typename } }'

    # when it is walked twice
    first, second = _walked(walks, text, {}), _walked(walks, text, {})

    # then the second walk is the first one's result
    assert second is first


def test_a_walk_that_read_a_variable_is_walked_again_for_other_values() -> None:
    # given a mutation whose answer includes the ad account only when $no is true
    walks = Walks()
    ad_account = ("launchCampaign", "campaign", "ad")

    # when it is walked with $no false, then true
    without = _walked(walks, DOCUMENT, {"id": "x", "events": [], "no": False})
    with_it = _walked(walks, DOCUMENT, {"id": "x", "events": [], "no": True})

    # then each walk follows its own values
    assert ("spend", "stoppedCampaigns", "adAccount") not in _paths(without)
    assert ("spend", "stoppedCampaigns", "adAccount") in _paths(with_it)
    assert ad_account in _paths(without)
