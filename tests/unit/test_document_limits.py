"""The expanded size of a document, computed without expanding it."""

from __future__ import annotations

import pytest
from graphql import parse

from adledger.schema.limits import (
    ExpandedSize,
    FragmentCycle,
    _Verdicts,
    check_document,
    measure,
    most_repeated_field,
)


def test_fragments_count_once_per_spread() -> None:
    document = parse(
        "{ a: viewer { ...V ...V } ... on Query { __typename } } "
        "fragment V on Viewer { email ...W } fragment W on Viewer { isStaff }"
    )
    # viewer, the inline fragment, __typename; each V: email + W's isStaff
    assert measure(document) == ExpandedSize(selections=3 + 2 * 2, spreads=2 * 2)


def test_a_fragment_nobody_spreads_still_counts_on_its_own() -> None:
    document = parse(
        "{ __typename } fragment A on Query { ...B ...B ...B } fragment B on Query { a }"
    )
    assert measure(document) == ExpandedSize(selections=3, spreads=3)


def test_unknown_fragments_are_empty_and_repeated_names_add_up() -> None:
    document = parse("{ ...A ...Missing } fragment A on Query { a } fragment A on Query { b c }")
    assert measure(document) == ExpandedSize(selections=3, spreads=2)


def test_a_long_chain_needs_no_recursion() -> None:
    chain = " ".join(f"fragment F{i} on Query {{ x ...F{i + 1} }}" for i in range(3000))
    document = parse(f"{{ ...F0 }} {chain} fragment F3000 on Query {{ x }}")
    assert measure(document) == ExpandedSize(selections=3001, spreads=3001)


def test_a_cycle_is_found() -> None:
    document = parse("{ ...A } fragment A on Query { ...B } fragment B on Query { x ...A }")
    with pytest.raises(FragmentCycle):
        measure(document)


def test_the_limits_are_inclusive() -> None:
    document = parse("{ ...A ...A } fragment A on Query { a b }")
    assert check_document(document, max_selections=4, max_spreads=2, max_repeats=9) is None
    too_many = check_document(document, max_selections=3, max_spreads=2, max_repeats=9)
    assert too_many is not None
    assert too_many.message == (
        "the query is too large once its fragments are expanded (4 > 3 selections)"
    )
    assert too_many.extensions == {"code": "QUERY_TOO_COMPLEX"}
    spreads = check_document(document, max_selections=4, max_spreads=1, max_repeats=9)
    assert spreads is not None
    assert spreads.message == (
        "the query spreads too many fragments once they are expanded (2 > 1)"
    )


def test_repeats_count_through_fragments_and_inline_fragments_by_response_name() -> None:
    document = parse(
        "{ viewer { email } ... on Query { viewer { isStaff } } ...V ...V x: viewer { email } } "
        "fragment V on Query { viewer { email } ... on Query { viewer { email } } }"
    )
    # viewer: 1 + 1 inline + 2 per V, twice; the aliased one answers as x
    assert most_repeated_field(document) == ("viewer", 6)


def test_repeats_are_counted_per_selection_set() -> None:
    document = parse("{ a: viewer { email email email } b: viewer { email email } }")
    assert most_repeated_field(document) == ("email", 3)
    assert check_document(document, 100, 100, max_repeats=3) is None
    refused = check_document(document, 100, 100, max_repeats=2)
    assert refused is not None
    assert refused.message == "the query selects email 3 times in one selection set (> 2)"


def test_a_verdict_is_kept_per_text_and_limits_and_the_oldest_goes_first() -> None:
    # given a cache of two verdicts and a document that selects `a` three times
    verdicts = _Verdicts(maxsize=2)
    text = "{ a a a }"
    document = parse(text)

    # when it is judged under two limits of repeats, then a third text comes
    refused = verdicts.problem(text, document, (100, 100, 2))
    allowed = verdicts.problem(text, document, (100, 100, 3))
    verdicts.problem("{ b }", parse("{ b }"), (100, 100, 2))

    # then each limit got its own verdict, and the oldest was forgotten
    assert refused == "the query selects a 3 times in one selection set (> 2)"
    assert allowed is None
    assert verdicts.seen.keys() == [(text, (100, 100, 3)), ("{ b }", (100, 100, 2))]
