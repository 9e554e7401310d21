"""What a mutation's answer would read, known before the mutation runs.

A field marked `needs(permission)` answers FORBIDDEN to a caller whose role in the
object's business center lacks that permission. Inside a mutation's answer that error
nulls everything up to the root (every field on the way is non-null), after the money
moved: the ad server's `recordSpend` selecting `stoppedCampaigns { invoices }` got
`data: null`, and its retry only `duplicates`. So a mutation's selection is walked before
anything runs and the permissions it needs are collected here; the resolvers'
`ReadableResults` refuses the whole request when the caller lacks one. The same walk finds
page arguments a connection of the answer would refuse (`invoices(first: -1)`), which
would null the answer the same way, whoever asks.

The walk visits each selection of the expanded operation once, without recursion.
`ExpandedSizeLimiter` has already refused a document whose expansion passes the selection
and spread limits (right after parsing, before validation, long before this); the walk
stops at the same budget anyway.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    VariableNode,
    VariableValues,
    get_argument_values,
    get_directive_values,
    get_named_type,
    get_variable_values,
)

from adledger.domain.access import Permission
from adledger.schema.pages import page_problem
from adledger.schema.recent import LONGEST_TEXT, Recent

F = TypeVar("F", bound=Callable[..., Any])
Guards = Mapping[tuple[str, str], frozenset[Permission]]

_NEEDS = "__adledger_needs__"
_ACTS_WITH = "__adledger_acts_with__"
_DEFINITION = "strawberry-definition"  # where strawberry keeps its field on graphql-core's
_guards: weakref.WeakKeyDictionary[GraphQLSchema, Guards] = weakref.WeakKeyDictionary()
_PAGE_ARGUMENTS = frozenset({"first", "after"})
_NO_VARIABLES = VariableValues(sources={}, coerced={})


def needs(permission: Permission) -> Callable[[F], F]:
    """Marks a field's resolver that answers FORBIDDEN (`RequestContext.authorize`) to a
    caller without `permission` in the object's business center. The resolver still
    checks; the mark lets a mutation refuse, before it runs, an answer it could not give."""

    def mark(resolver: F) -> F:
        setattr(resolver, _NEEDS, permission)
        return resolver

    return mark


def acts_with(permission: Permission) -> Callable[[F], F]:
    """Marks a mutation's resolver that changes nothing unless the caller holds
    `permission` in every business center its input names (its service checks it, in the
    transaction). When that permission implies every one its answer reads (`implies`),
    whoever it succeeds for may read its answer, and `ReadableResults` asks no roles."""

    def mark(resolver: F) -> F:
        setattr(resolver, _ACTS_WITH, permission)
        return resolver

    return mark


def acting_permission(definition: GraphQLField) -> Permission | None:
    """What `acts_with` marked the field's resolver with, if anything."""
    return _mark_of(definition, _ACTS_WITH)


def guards_of(schema: GraphQLSchema) -> Guards:
    """(type, field) → the permissions reading it needs; a field of an interface needs what
    any of its implementations needs. Read once per schema."""
    found = _guards.get(schema)
    if found is None:
        found = _guards[schema] = _collect_guards(schema)
    return found


def _collect_guards(schema: GraphQLSchema) -> Guards:
    found: dict[tuple[str, str], frozenset[Permission]] = {}
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLObjectType):
            for name, definition in type_.fields.items():
                permission = _mark_of(definition)
                if permission is not None:
                    found[(type_.name, name)] = frozenset({permission})
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLInterfaceType):
            for name in type_.fields:
                needed = frozenset().union(
                    *(found.get((t.name, name), ()) for t in schema.get_possible_types(type_))
                )
                if needed:
                    found[(type_.name, name)] = needed
    return found


def _mark_of(definition: GraphQLField, mark: str = _NEEDS) -> Permission | None:
    strawberry_field = (definition.extensions or {}).get(_DEFINITION)
    resolver = getattr(strawberry_field, "base_resolver", None)
    permission = getattr(getattr(resolver, "wrapped_func", None), mark, None)
    return permission if isinstance(permission, Permission) else None


@dataclass(frozen=True, slots=True)
class NeededRead:
    """A field of the answer that needs a permission: where it is, and which."""

    path: tuple[str, ...]  # response keys, from the root field down to it
    node: FieldNode
    permission: Permission


@dataclass(frozen=True, slots=True)
class BadArgument:
    """A field of the answer whose arguments it would refuse, and why."""

    path: tuple[str, ...]
    node: FieldNode
    problem: str


@dataclass(frozen=True, slots=True)
class RootField:
    """One field of the operation's root selection, and what its answer would read."""

    node: FieldNode
    definition: GraphQLField
    reads: tuple[NeededRead, ...]
    bad_arguments: tuple[BadArgument, ...] = ()


class TooLarge(Exception):
    """The operation has more selections than the walk's budget."""


class Variables:
    """The operation's variables, coerced only once something needs them (a directive, an
    argument): coercing every recordSpend batch twice would cost about what parsing it
    does."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        given: Mapping[str, Any] | None,
    ) -> None:
        self._schema, self._operation, self._given = schema, operation, given
        self._values: VariableValues | None = None
        self._coerced = False
        self.consulted = False  # a walk that never asked depends on the document alone

    @property
    def schema(self) -> GraphQLSchema:
        return self._schema

    def values(self) -> VariableValues | None:
        """None when execution will refuse them (and then run nothing)."""
        self.consulted = True
        if not self._coerced:
            self._coerced = True
            given = dict(self._given or {})
            coerced = get_variable_values(self._schema, self._operation.variable_definitions, given)
            self._values = coerced if isinstance(coerced, VariableValues) else None
        return self._values


@dataclass(slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Variables
    budget: int
    spent: int = field(default=0)

    def fields(
        self, parent: GraphQLNamedType, selections: SelectionSetNode, path: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], FieldNode, GraphQLNamedType, GraphQLField]]:
        """Each field selected, fragments flattened: (its path, its node, the type it is
        selected on, its definition)."""
        stack = [(parent, selections)]
        while stack:
            parent, selection_set = stack.pop()
            for selection in selection_set.selections:
                self.spent += 1
                if self.spent > self.budget:
                    raise TooLarge
                if not _included(selection, self.variables):
                    continue
                if isinstance(selection, FieldNode):
                    definition = _field(parent, selection)
                    if definition is not None:  # None: a meta field (__typename)
                        yield (*path, _key(selection)), selection, parent, definition
                    continue
                inner = self._fragment(parent, selection)
                if inner is not None:
                    stack.append(inner)

    def answer(
        self, parent: GraphQLNamedType, selections: SelectionSetNode, path: tuple[str, ...]
    ) -> tuple[list[NeededRead], list[BadArgument]]:
        """The guarded fields at any depth below, and those with page arguments refused."""
        guards = guards_of(self.schema)
        reads, bad = [], []
        stack = [(parent, selections, path)]
        while stack:
            parent, selection_set, at = stack.pop()
            for here, node, on, definition in self.fields(parent, selection_set, at):
                for permission in sorted(guards.get((on.name, node.name.value), ())):
                    reads.append(NeededRead(here, node, permission))
                problem = self._page_problem(node, definition)
                if problem is not None:
                    bad.append(BadArgument(here, node, problem))
                if node.selection_set is not None:
                    stack.append((get_named_type(definition.type), node.selection_set, here))
        return reads, bad

    def _page_problem(self, node: FieldNode, definition: GraphQLField) -> str | None:
        given = node.arguments or ()
        if not any(a.name.value in _PAGE_ARGUMENTS for a in given):
            return None
        uses_variables = any(isinstance(a.value, VariableNode) for a in given)
        values = self.variables.values() if uses_variables else _NO_VARIABLES
        if values is None:
            return None  # execution refuses the variables: nothing runs
        try:
            arguments = get_argument_values(definition, node, values)
        except GraphQLError:
            return None  # execution reports it, before any field runs
        return page_problem(arguments.get("first"), arguments.get("after"))

    def _fragment(
        self, parent: GraphQLNamedType, selection: SelectionNode
    ) -> tuple[GraphQLNamedType, SelectionSetNode] | None:
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            named = self.schema.get_type(condition.name.value) if condition else parent
            return None if named is None else (named, selection.selection_set)
        if isinstance(selection, FragmentSpreadNode):
            fragment = self.fragments.get(selection.name.value)
            if fragment is None:
                return None
            named = self.schema.get_type(fragment.type_condition.name.value)
            return None if named is None else (named, fragment.selection_set)
        return None


def root_fields(
    schema: GraphQLSchema,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    variables: Variables,
    budget: int,
) -> list[RootField]:
    """Each root field the operation would run, with the guarded fields its answer selects
    and the page arguments it would refuse. Raises TooLarge past `budget` selections."""
    root_type = schema.get_root_type(operation.operation)
    if root_type is None:
        return []
    walk = _Walk(schema, fragments, variables, budget)
    roots = []
    for path, node, _, definition in list(walk.fields(root_type, operation.selection_set, ())):
        reads: list[NeededRead] = []
        bad: list[BadArgument] = []
        if node.selection_set is not None:
            below = get_named_type(definition.type)
            reads, bad = walk.answer(below, node.selection_set, path)
        roots.append(RootField(node, definition, tuple(reads), tuple(bad)))
    return roots


class Walks:
    """`root_fields` of recent documents, by query text and operation name, for those whose
    walk never read a variable (no @skip or @include, no page argument given by variable):
    then the text alone decides what the answer reads (schema/recent.py)."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._known: weakref.WeakKeyDictionary[
            GraphQLSchema, Recent[tuple[str, str | None, int], list[RootField]]
        ] = weakref.WeakKeyDictionary()

    def root_fields(
        self,
        text: str | None,
        operation_name: str | None,
        fragments: Mapping[str, FragmentDefinitionNode],
        operation: OperationDefinitionNode,
        variables: Variables,
        budget: int,
    ) -> list[RootField]:
        schema = variables.schema
        if text is None or len(text) > LONGEST_TEXT:
            return root_fields(schema, fragments, operation, variables, budget)
        known = self._known.setdefault(schema, Recent(self.maxsize))
        key = (text, operation_name, budget)
        if key in known:
            return known[key]
        roots = root_fields(schema, fragments, operation, variables, budget)
        if not variables.consulted:
            known[key] = roots
        return roots


def _key(node: FieldNode) -> str:
    return (node.alias or node.name).value


def _field(parent: GraphQLNamedType, node: FieldNode) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        return parent.fields.get(node.name.value)
    return None


def _included(selection: SelectionNode, variables: Variables) -> bool:
    """@skip and @include as execution will read them; when they cannot be read (variables
    that execution will refuse), the selection counts: refusing more is safe."""
    if not selection.directives:
        return True
    values = variables.values()
    if values is None:
        return True
    try:
        skip = get_directive_values(GraphQLSkipDirective, selection, values)
        include = get_directive_values(GraphQLIncludeDirective, selection, values)
    except GraphQLError:
        return True
    return not (skip and skip.get("if") is True) and not (include and include.get("if") is False)
