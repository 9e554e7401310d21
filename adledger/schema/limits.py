"""What a parsed document would cost once its fragments are expanded, checked before any
validation rule walks it.

Validation rules (strawberry's depth and alias limiters, some of graphql-core's own) expand
every fragment spread they meet without remembering what a fragment cost the last time, so
a 1 KB document whose fragments each spread the next one twice makes them walk 2^n
selections. Here each fragment is summed up once and its expanded size is computed as an
integer, so the check is linear in the document's length whatever it would expand to.
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

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True, slots=True)
class ExpandedSize:
    """Counts once every fragment spread is replaced by the fragment's selections."""

    selections: int  # fields and inline fragments
    spreads: int


@dataclass(slots=True)
class _Local:
    """One definition before expansion: its own selections, and how often it spreads which
    fragment."""

    selections: int = 0
    spreads: Counter[str] = field(default_factory=Counter)


class FragmentCycle(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _local(selection_set: SelectionSetNode | None, into: _Local) -> _Local:
    stack = [selection_set] if selection_set is not None else []
    while stack:  # no recursion: a deeply nested document must not exhaust the stack
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                into.spreads[selection.name.value] += 1
                continue
            into.selections += 1
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)
    return into


def _fragment_order(fragments: dict[str, _Local]) -> Iterator[str]:
    """Every fragment after all those it spreads; FragmentCycle when that is impossible."""
    done: set[str] = set()
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
                done.add(name)
                yield name


def measure(document: DocumentNode) -> ExpandedSize:
    """The larger of: all operations together, any single fragment (validation walks
    fragments no operation uses too). Unknown fragments count as empty: validation reports
    them. Raises FragmentCycle."""
    fragments: dict[str, _Local] = {}
    operations: list[_Local] = []
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            # A repeated name is a validation error; summing both bodies bounds either.
            local = fragments.setdefault(definition.name.value, _Local())
            _local(definition.selection_set, local)
        elif isinstance(definition, OperationDefinitionNode):
            operations.append(_local(definition.selection_set, _Local()))
    expanded: dict[str, ExpandedSize] = {}
    for name in _fragment_order(fragments):
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


def _shown(count: int) -> str:
    digits = str(count)
    return digits if len(digits) <= 12 else f"about 10^{len(digits) - 1}"


def check_document(
    document: DocumentNode, max_selections: int, max_spreads: int
) -> GraphQLError | None:
    """The error to answer instead of validating and running the document, if any."""
    try:
        size = measure(document)
    except FragmentCycle as cycle:
        return too_complex(f"the fragment {cycle.name} spreads itself")
    if size.selections > max_selections:
        return too_complex(
            "the query is too large once its fragments are expanded "
            f"({_shown(size.selections)} > {max_selections} selections)"
        )
    if size.spreads > max_spreads:
        return too_complex(
            "the query spreads too many fragments once they are expanded "
            f"({_shown(size.spreads)} > {max_spreads})"
        )
    return None


def too_complex(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": TOO_COMPLEX})


class ExpandedSizeLimiter(SchemaExtension):
    """Refuse, right after parsing, a document too large once its fragments are expanded.

    The error is set as the operation's pre-execution errors: strawberry then skips its own
    validation and answers it like a validation error, on HTTP and websockets alike.
    `GuardedValidationCache` must replace strawberry's ValidationCache, which would
    validate anyway.
    """

    def __init__(self, max_selections: int, max_spreads: int) -> None:
        super().__init__()
        self.max_selections = max_selections
        self.max_spreads = max_spreads

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        if context.graphql_document is None:
            return
        error = check_document(context.graphql_document, self.max_selections, self.max_spreads)
        if error is not None:
            context.pre_execution_errors = [error]


class GuardedValidationCache(ValidationCache):
    """strawberry's ValidationCache, except that a document already refused is not
    validated (its rules are what must not run on it)."""

    def on_validate(self) -> Iterator[None]:
        if self.execution_context.pre_execution_errors:
            yield
        else:
            yield from super().on_validate()
