"""The cost of a query (GitHub's node count), computed before it runs; and every query the
documentation shows costs far less than the limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import (
    DocumentNode,
    OperationDefinitionNode,
    get_introspection_query,
    parse,
    validate,
)

from adledger.app.demo.banner import RECORD_SPEND
from adledger.app.settings import Settings
from adledger.resolvers.root import build_schema
from adledger.schema.cost import CostModel

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = build_schema()
MODEL = CostModel(SCHEMA._schema)


def cost(text: str, variables: dict[str, object] | None = None) -> int:
    document = parse(text)
    assert validate(SCHEMA._schema, document) == []
    return MODEL.cost(document, None, variables)


def test_pages_multiply_down_the_tree_and_add_up_across_aliases() -> None:
    query = """{ a: viewer { businessCenters(first: 10) { edges { node {
        adAccounts(first: 5) { edges { node { campaigns(first: 3) { edges { cursor } } } } } } } } }
      b: viewer { businessCenters(first: 2) { pageInfo { hasNextPage } } } }"""
    assert cost(query) == (10 + 10 * 5 + 10 * 5 * 3) + 2


def test_a_page_is_its_default_or_its_variable_capped_at_100() -> None:
    query = """query($n: Int, $m: Int = 7) { viewer {
      a: businessCenters { edges { cursor } }
      b: businessCenters(first: $n) { edges { cursor } }
      c: businessCenters(first: $m) { edges { cursor } }
      d: businessCenters(first: 500) { edges { cursor } } } }"""
    assert cost(query) == 20 + 20 + 7 + 100
    assert cost(query, {"n": 3, "m": 1000}) == 20 + 3 + 100 + 100


def test_lists_count_their_realistic_size_and_scalars_nothing() -> None:
    query = """query($id: ID!) { businessCenter(id: $id) { name members { email }
      adAccounts(first: 2) { edges { node { campaigns(first: 3) { edges { node {
        notifications { kind } } } } } } } } }"""
    assert cost(query, {"id": "x"}) == 20 + 2 + 2 * 3 + 2 * 3 * 20


def test_fragments_and_inline_fragments_count_where_they_are_spread() -> None:
    query = """{ viewer { ...Centers ... on Viewer { ...Centers } }
      x: viewer { businessCenters(first: 4) { edges { node { ...Accounts } } } } }
      fragment Centers on Viewer { businessCenters(first: 3) { edges { node { ...Accounts } } } }
      fragment Accounts on BusinessCenter { adAccounts(first: 2) { edges { cursor } } }"""
    assert cost(query) == 2 * (3 + 3 * 2) + (4 + 4 * 2)


def test_fragments_spread_exponentially_cost_linear_time() -> None:
    # 60 fragments, each spreading the next twice: 2^60 pages of one, costed in one pass
    chain = " ".join(f"fragment F{i} on Viewer {{ ...F{i + 1} ...F{i + 1} }}" for i in range(60))
    last = "fragment F60 on Viewer { businessCenters(first: 1) { edges { cursor } } }"
    document = parse(f"{{ viewer {{ ...F0 }} }} {chain} {last}")
    assert MODEL.cost(document) == 2**60


def test_a_query_without_lists_costs_one() -> None:
    assert cost("{ viewer { email } }") == 1


def test_issue_24_query_costs_602000() -> None:
    alias = """a{i}: businessCenter(id: $id) {{ adAccounts(first: 100) {{ edges {{ node {{
      wallet {{ transactions(first: 100) {{ edges {{ node {{ id }} }} }} }}
      campaigns(first: 100) {{ edges {{ node {{ id }} }} }}
      budgetChanges(first: 100) {{ edges {{ node {{ changedAt }} }} }} }} }} }} }}"""
    query = "query($id: ID!) {" + " ".join(alias.format(i=i) for i in range(20)) + "}"
    assert cost(query, {"id": "x"}) == 20 * (100 + 100 * 3 * 100)
    assert cost(query, {"id": "x"}) > Settings().max_query_cost


def test_introspection_costs_what_the_schema_could_answer_and_passes() -> None:
    spent = cost(get_introspection_query(descriptions=True))
    assert 10_000 < spent < Settings().max_query_cost


def test_the_cost_is_remembered_per_text_and_page_variables() -> None:
    model = CostModel(SCHEMA._schema)
    text = "query($n: Int) { viewer { businessCenters(first: $n) { edges { cursor } } } }"
    document = parse(text)
    assert model.cost(document, None, {"n": 5}, text=text) == 5
    assert model.cost(document, None, {"n": 6}, text=text) == 6
    assert model.cost(document, None, {"n": 5, "s": "x"}, text=text) == 5
    assert len(model._cache) == 2


def _documented_operations() -> list[tuple[str, str]]:
    """Every GraphQL document of docs/api.md and README.md: fenced blocks, and inline code
    that parses and validates as one (with its variables typed)."""
    found = []
    for name in ("docs/api.md", "README.md"):
        text = (ROOT / name).read_text()
        for block in re.findall(r"```graphql\n(.*?)```", text, re.S):
            found.append((name, block))
        for inline in re.findall(r"`([^`\n]*\{[^`\n]*\})`", text):
            try:
                document = parse(inline)
            except Exception:
                continue
            if not validate(SCHEMA._schema, document):
                found.append((name, inline))
    found.append(("adledger/app/demo/banner.py", RECORD_SPEND))
    return found


def _operation_cost(document: DocumentNode) -> int:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1
    return MODEL.cost(document, None, {})


@pytest.mark.parametrize(("source", "text"), _documented_operations())
def test_every_documented_query_costs_a_tenth_of_the_limit_at_most(source, text) -> None:
    document = parse(text)
    assert validate(SCHEMA._schema, document) == [], (source, text)
    assert _operation_cost(document) <= Settings().max_query_cost // 10, (source, text)


def test_the_documentation_shows_queries() -> None:
    sources = [source for source, _ in _documented_operations()]
    assert sources.count("docs/api.md") >= 4
