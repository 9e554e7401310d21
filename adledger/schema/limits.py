"""What a parsed document would cost once its fragments are expanded, checked before any
validation rule walks it.

Validation rules (strawberry's depth and alias limiters, some of graphql-core's own) expand
every fragment spread they meet without remembering what a fragment cost the last time, so
a 1 KB document whose fragments each spread the next one twice makes them walk 2^n
selections. Here each fragment is summed up once and its expanded size is computed as an
integer, so the check is linear in the document's length whatever it would expand to.
Validation also compares the fields sharing a response name in a selection set pair by
pair (`{ viewer { email } viewer { email } ... }`), so how often one is repeated is bounded
too, once the expansion is known to be small.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension, ValidationCache

from adledger.schema.recent import LONGEST_TEXT, Recent

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True, slots=True)
class ExpandedSize:
    """Counts once every fragment spread is replaced by the fragment's selections."""

    selections: int  # fields and inline fragments
    spreads: int


@dataclass(slots=True)
class _Local:
    """One definition before expansion: its own selections, how often it spreads which
    fragment, and its bodies (a fragment defined twice has two)."""

    selections: int = 0
    spreads: Counter[str] = field(default_factory=Counter)
    bodies: list[SelectionSetNode] = field(default_factory=list)

    def add(self, body: SelectionSetNode) -> _Local:
        self.bodies.append(body)
        stack = [body]
        while stack:  # no recursion: a deeply nested document must not exhaust the stack
            for selection in stack.pop().selections:
                if isinstance(selection, FragmentSpreadNode):
                    self.spreads[selection.name.value] += 1
                    continue
                self.selections += 1
                if isinstance(selection, FieldNode | InlineFragmentNode) and (
                    selection.selection_set
                ):
                    stack.append(selection.selection_set)
        return self


class FragmentCycle(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _definitions(document: DocumentNode) -> tuple[dict[str, _Local], list[_Local]]:
    fragments: dict[str, _Local] = {}
    operations: list[_Local] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            # A repeated name is a validation error; counting both bodies bounds either.
            fragments.setdefault(definition.name.value, _Local()).add(definition.selection_set)
        elif isinstance(definition, OperationDefinitionNode):
            operations.append(_Local().add(definition.selection_set))
    return fragments, operations


def _fragment_order(fragments: dict[str, _Local]) -> list[str]:
    """Every fragment after all those it spreads; FragmentCycle when that is impossible."""
    done: dict[str, None] = {}  # insertion-ordered
    for root in fragments:
        if root in done:
            continue
        path = [(root, iter(fragments[root].spreads))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread in spreads:
                if spread in on_path:
                    raise FragmentCycle(spread)
                if spread in fragments and spread not in done:
                    path.append((spread, iter(fragments[spread].spreads)))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                done[name] = None
    return list(done)


def measure(document: DocumentNode) -> ExpandedSize:
    """The larger of: all operations together, any single fragment (validation walks
    fragments no operation uses too). Unknown fragments count as empty: validation reports
    them. Raises FragmentCycle."""
    fragments, operations = _definitions(document)
    return _measure(fragments, operations, _fragment_order(fragments))


def _measure(
    fragments: dict[str, _Local], operations: list[_Local], order: list[str]
) -> ExpandedSize:
    expanded: dict[str, ExpandedSize] = {}
    for name in order:
        expanded[name] = _expand(fragments[name], expanded)
    totals = [_expand(op, expanded) for op in operations]
    whole = ExpandedSize(sum(t.selections for t in totals), sum(t.spreads for t in totals))
    return ExpandedSize(
        max([whole.selections, *(size.selections for size in expanded.values())]),
        max([whole.spreads, *(size.spreads for size in expanded.values())]),
    )


def _expand(local: _Local, expanded: dict[str, ExpandedSize]) -> ExpandedSize:
    selections, spreads = local.selections, 0
    for name, times in local.spreads.items():
        inner = expanded.get(name, ExpandedSize(0, 0))
        selections += times * inner.selections
        spreads += times * (1 + inner.spreads)
    return ExpandedSize(selections, spreads)


def most_repeated_field(document: DocumentNode) -> tuple[str, int]:
    """The response name selected most often in one selection set, inline fragments and
    fragment spreads flattened into it, and how often. Raises FragmentCycle."""
    fragments, operations = _definitions(document)
    return _most_repeated(fragments, operations, _fragment_order(fragments))


def _most_repeated(
    fragments: dict[str, _Local], operations: list[_Local], order: list[str]
) -> tuple[str, int]:
    """graphql-core's OverlappingFieldsCanBeMerged compares the fields sharing a response
    name in a selection set pair by pair: its cost grows with the square of this count.
    Each selection set of the text is counted once; a fragment's own top level once, then
    added wherever it is spread. Meant for a document whose expansion `_measure` bounded."""
    tops: dict[str, Counter[str]] = {}
    nested: list[SelectionSetNode] = []
    worst = ("", 0)

    def count(bodies: list[SelectionSetNode]) -> Counter[str]:
        nonlocal worst
        names: Counter[str] = Counter()
        stack = list(bodies)
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FieldNode):
                    names[(selection.alias or selection.name).value] += 1
                    if selection.selection_set:
                        nested.append(selection.selection_set)
                elif isinstance(selection, InlineFragmentNode):
                    stack.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    names.update(tops.get(selection.name.value, Counter()))
        for name, times in names.most_common(1):
            worst = max(worst, (name, times), key=lambda pair: pair[1])
        return names

    for name in order:
        tops[name] = count(fragments[name].bodies)
    for operation in operations:
        count(operation.bodies)
    while nested:
        count([nested.pop()])
    return worst


def _shown(count: int) -> str:
    digits = str(count)
    return digits if len(digits) <= 12 else f"about 10^{len(digits) - 1}"


def check_document(
    document: DocumentNode, max_selections: int, max_spreads: int, max_repeats: int
) -> GraphQLError | None:
    """The error to answer instead of validating and running the document, if any."""
    problem = _problem(document, max_selections, max_spreads, max_repeats)
    return None if problem is None else too_complex(problem)


def _problem(
    document: DocumentNode, max_selections: int, max_spreads: int, max_repeats: int
) -> str | None:
    fragments, operations = _definitions(document)
    try:
        order = _fragment_order(fragments)
    except FragmentCycle as cycle:
        return f"the fragment {cycle.name} spreads itself"
    size = _measure(fragments, operations, order)
    if size.selections > max_selections:
        return (
            "the query is too large once its fragments are expanded "
            f"({_shown(size.selections)} > {max_selections} selections)"
        )
    if size.spreads > max_spreads:
        return (
            "the query spreads too many fragments once they are expanded "
            f"({_shown(size.spreads)} > {max_spreads})"
        )
    name, repeats = _most_repeated(fragments, operations, order)
    if repeats > max_repeats:
        return f"the query selects {name} {repeats} times in one selection set (> {max_repeats})"
    return None


class _Verdicts:
    """What `_problem` said of each recent query text (None: nothing): the text alone
    decides it (schema/recent.py). An error is made afresh for each request from the
    message."""

    def __init__(self, maxsize: int = 256) -> None:
        self.seen: Recent[tuple[str, tuple[int, int, int]], str | None] = Recent(maxsize)

    def problem(
        self, text: str | None, document: DocumentNode, limits: tuple[int, int, int]
    ) -> str | None:
        if text is None or len(text) > LONGEST_TEXT:
            return _problem(document, *limits)
        key = (text, limits)
        if key not in self.seen:
            self.seen[key] = _problem(document, *limits)
        return self.seen[key]


_VERDICTS = _Verdicts()


def too_complex(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": TOO_COMPLEX})


class ExpandedSizeLimiter(SchemaExtension):
    """Refuse, right after parsing, a document too large once its fragments are expanded.

    The error is set as the operation's pre-execution errors: strawberry then skips its own
    validation and answers it like a validation error, on HTTP and websockets alike.
    `GuardedValidationCache` must replace strawberry's ValidationCache, which would
    validate anyway.
    """

    def __init__(self, max_selections: int, max_spreads: int, max_repeats: int) -> None:
        super().__init__()
        self.limits = (max_selections, max_spreads, max_repeats)

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.graphql_document is None:
            return
        problem = _VERDICTS.problem(context.query, context.graphql_document, self.limits)
        if problem is not None:
            context.pre_execution_errors = [too_complex(problem)]


class GuardedValidationCache(ValidationCache):
    """strawberry's ValidationCache, except that a document already refused is not
    validated (its rules are what must not run on it)."""

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors:
            yield
        else:
            yield from super().on_validate()
