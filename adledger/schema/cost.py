"""What a query could cost, computed before any resolver runs (GitHub's node limit).

The cost of an operation is the number of nodes its answer could hold: every connection
contributes its page size (`first`, else the field's default of 20, capped at
MAX_PAGE_SIZE) times the page sizes of the connections and lists above it; aliases and
fragments add up; objects that are not in a list and scalars cost nothing of their own
(the document limits bound them). A request costs at least 1.

    businessCenter(id: $id) {                     # 0
      adAccounts(first: 10) { edges { node {     # 10
        campaigns(first: 50) { edges { node {    # 10 x 50 = 500
          notifications { id } } } } } } }        # 10 x 50 x 20 = 10 000
                                                  # cost: 10 510

`@skip` and `@include` are ignored: the cost is the worst case. Every fragment is costed
once per operation (its cost is linear in the multiplier of the place it is spread), so the
walk is linear in the document's length however often a fragment is spread.

Lists that are not connections have no page argument; each counts as the number of items
it can realistically hold (LIST_SIZES): the members and pending invitations of a center, a
campaign's notifications and makegood offers, an invoice's lines, a wallet's pending
top-ups, the refunds of a refund request, and what one mutation answers about the objects
it changed (the campaigns a spend batch or a budget change stopped, the events of a batch it
refused: `recordSpend` is charged by the size of its batch besides, see rate_limit.py).
None of them is capped by the data model, so these are the sizes real centers reach, not
bounds: a list missing from the table counts DEFAULT_LIST_SIZE. Lists of scalars and enums
(`UserError.field`, `blockers`) cost nothing.

Introspection counts from the schema itself: `__schema { types }` as many types as the
schema has, the lists of a type (`fields`, `enumValues` ...) as the longest such list in
the schema, so a nested introspection query costs what it could answer.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from adledger.schema.limits import FragmentCycle, _definitions, _fragment_order
from adledger.schema.pages import MAX_PAGE_SIZE

TOO_COSTLY = "QUERY_TOO_COSTLY"
DEFAULT_PAGE_SIZE = 20
DEFAULT_LIST_SIZE = 20
PAGE_ARGUMENTS = ("first", "last")

# (type, field) -> how many items the list holds at most in practice.
LIST_SIZES: Mapping[tuple[str, str], int] = {
    ("BusinessCenter", "members"): 20,
    ("BusinessCenter", "invitations"): 20,
    ("Viewer", "invitations"): 20,
    ("Campaign", "notifications"): 20,
    ("Campaign", "makegoodOffers"): 10,
    ("Invoice", "lines"): 10,
    ("Wallet", "pendingTopUps"): 10,
    ("RefundRequest", "refunds"): 10,
    # One per ad account of the center, like a page of adAccounts.
    ("EnableAutomaticAllocationSuccess", "budgetSyncs"): MAX_PAGE_SIZE,
    # What one call changed: its batch (up to 1000 events) is charged by size besides.
    ("RecordSpendSuccess", "stoppedCampaigns"): MAX_PAGE_SIZE,
    ("RecordSpendSuccess", "refused"): MAX_PAGE_SIZE,
    ("SetAdAccountBudgetSuccess", "stoppedCampaigns"): MAX_PAGE_SIZE,
    ("SetAdAccountBudgetSuccess", "restartedCampaigns"): MAX_PAGE_SIZE,
}


def too_costly(cost: int, limit: int) -> GraphQLError:
    return GraphQLError(
        f"the query could return {cost} nodes, more than the {limit} a request may ask for: "
        "ask for smaller pages (`first`) or fewer nested connections",
        extensions={"code": TOO_COSTLY, "cost": cost, "limit": limit},
    )


class CostModel:
    """One schema's list sizes, and the costs of the documents it saw last."""

    def __init__(self, schema: GraphQLSchema, cache_size: int = 256) -> None:
        self.schema = schema
        self.introspection = _introspection_sizes(schema)
        self._cache: OrderedDict[tuple[object, ...], int] = OrderedDict()
        self._cache_size = cache_size

    def cost(
        self,
        document: DocumentNode,
        operation_name: str | None = None,
        variables: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
    ) -> int:
        """The operation's cost (at least 1). With `text` (the document's source), the cost
        is remembered for that text, operation and Int variables (page sizes are Ints)."""
        if text is None:
            return operation_cost(self, document, operation_name, variables)
        ints = tuple(sorted((k, v) for k, v in (variables or {}).items() if type(v) is int))
        key = (text, operation_name, ints)
        found = self._cache.get(key)
        if found is None:
            found = operation_cost(self, document, operation_name, variables)
            self._cache[key] = found
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found

    def list_size(self, parent: str, field: str) -> int:
        if parent.startswith("__"):
            return self.introspection.get(field, DEFAULT_LIST_SIZE)
        return LIST_SIZES.get((parent, field), DEFAULT_LIST_SIZE)


def _introspection_sizes(schema: GraphQLSchema) -> dict[str, int]:
    types = list(schema.type_map.values())
    fielded = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    abstract = [t for t in types if isinstance(t, GraphQLInterfaceType | GraphQLUnionType)]
    arguments = [len(d.args) for d in schema.directives]
    arguments += [len(f.args) for t in fielded for f in t.fields.values()]
    return {
        "types": len(types),
        "directives": len(schema.directives),
        "fields": max((len(t.fields) for t in fielded), default=0),
        "inputFields": max(
            (len(t.fields) for t in types if isinstance(t, GraphQLInputObjectType)), default=0
        ),
        "enumValues": max(
            (len(t.values) for t in types if isinstance(t, GraphQLEnumType)), default=0
        ),
        "interfaces": max((len(t.interfaces) for t in fielded), default=0),
        "possibleTypes": max((len(schema.get_possible_types(t)) for t in abstract), default=0),
        "args": max(arguments, default=0),
    }


def operation_cost(
    model: CostModel,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The cost of the operation a request runs, for a document that passed validation;
    0 nodes still cost 1. An operation that cannot be found costs 1 (execution refuses it)."""
    operation = get_operation_ast(document, operation_name)
    root = None if operation is None else model.schema.get_root_type(operation.operation)
    if operation is None or root is None:
        return 1
    walk = _Walk(model, document, _variable_values(operation, variables or {}))
    return max(1, walk.selections(operation.selection_set, root))


def _variable_values(
    operation: OperationDefinitionNode, given: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in given:
            values[name] = given[name]
        elif definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
    return values


class _Walk:
    """Costs each fragment once, those it spreads first, then the operation; no recursion
    (inline fragments nest as deep as the token limit lets them, and fragments chain)."""

    def __init__(
        self, model: CostModel, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.model = model
        self.variables = variables
        self.costed: dict[str, int] = {}
        definitions: dict[str, FragmentDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, FragmentDefinitionNode):
                definitions.setdefault(definition.name.value, definition)
        try:
            order = _fragment_order(_definitions(document)[0])
        except FragmentCycle:  # a validation error: never reached for a valid document
            order = []
        for name in order:
            fragment = definitions[name]
            condition = model.schema.get_type(fragment.type_condition.name.value)
            if condition is not None:
                self.costed[name] = self.selections(fragment.selection_set, condition)

    def selections(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> int:
        """At a multiplier of 1: a selection set's cost is linear in the multiplier of the
        place it appears, so a fragment costed once counts `multiplier x` its cost."""
        total = 0
        stack: list[tuple[SelectionSetNode, GraphQLNamedType, int]] = [(selection_set, parent, 1)]
        while stack:
            selections, parent, times = stack.pop()
            for selection in selections.selections:
                if isinstance(selection, FieldNode):
                    total += self.field(selection, parent, times, stack)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    inner = self.model.schema.get_type(condition.name.value) if condition else None
                    stack.append((selection.selection_set, inner or parent, times))
                elif isinstance(selection, FragmentSpreadNode):
                    total += times * self.costed.get(selection.name.value, 0)
        return total

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType,
        times: int,
        stack: list[tuple[SelectionSetNode, GraphQLNamedType, int]],
    ) -> int:
        """The field's own nodes; its selections go on the stack."""
        definition = _field_definition(self.model.schema, parent, node.name.value)
        if definition is None or node.selection_set is None:
            return 0  # scalars, enums and lists of them: nothing of their own
        items, counted = self.items(node, parent, definition)
        stack.append((node.selection_set, get_named_type(definition.type), times * items))
        return times * items if counted else 0

    def items(
        self, node: FieldNode, parent: GraphQLNamedType, definition: GraphQLField
    ) -> tuple[int, bool]:
        """How many objects the field answers per parent, and whether they are nodes of
        their own (a connection's `edges` are its nodes, counted by the connection)."""
        named = get_named_type(definition.type)
        if named.name.endswith("Connection") and any(a in definition.args for a in PAGE_ARGUMENTS):
            return self.page_size(node, definition), True
        if not _is_list(definition.type):
            return 1, False
        if parent.name.endswith("Connection"):
            return 1, False
        return self.model.list_size(parent.name, node.name.value), True

    def page_size(self, node: FieldNode, definition: GraphQLField) -> int:
        sizes = [self.argument(node, definition, name) for name in PAGE_ARGUMENTS]
        given = [size for size in sizes if size is not None]
        size = max(given) if given else DEFAULT_PAGE_SIZE
        return min(max(size, 0), MAX_PAGE_SIZE)

    def argument(self, node: FieldNode, definition: GraphQLField, name: str) -> int | None:
        """The Int an argument takes: as written, from a variable, or the field's default."""
        value: object = None
        written = next((a.value for a in node.arguments or () if a.name.value == name), None)
        if written is not None:
            value = self.value(written)
        elif name in definition.args:
            value = definition.args[name].default_value
        return value if type(value) is int else None

    def value(self, node: ValueNode) -> object:
        if isinstance(node, VariableNode):
            return self.variables.get(node.name.value)
        if isinstance(node, IntValueNode):
            return int(node.value)
        return None


def _field_definition(
    schema: GraphQLSchema, parent: GraphQLNamedType, name: str
) -> GraphQLField | None:
    if parent is schema.query_type and name in _META_FIELDS:
        return _META_FIELDS[name]
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


_META_FIELDS: dict[str, GraphQLField] = {"__schema": SchemaMetaFieldDef, "__type": TypeMetaFieldDef}


def _is_list(output: GraphQLOutputType) -> bool:
    if isinstance(output, GraphQLNonNull):
        output = output.of_type
    return isinstance(output, GraphQLList)


_MODELS: WeakKeyDictionary[GraphQLSchema, CostModel] = WeakKeyDictionary()


def cost_model(schema: GraphQLSchema) -> CostModel:
    """The schema's one CostModel (its sizes and its cache), made on first use."""
    model = _MODELS.get(schema)
    if model is None:
        model = _MODELS[schema] = CostModel(schema)
    return model


class Charger(Protocol):
    """What a request's cost is charged to (the points budget, resolvers/rate_limit.py):
    the error to answer instead of running the operation, if any."""

    async def __call__(self, context: ExecutionContext, cost: int) -> GraphQLError | None: ...


class QueryCost(SchemaExtension):
    """Refuse, once the document is valid and before any resolver runs, an operation that
    could answer more than `limit` nodes (QUERY_TOO_COSTLY, charged `limit`); charge the
    others their cost.

    Must come after the validation cache in the extension list: its validation runs
    first, and an error set here is answered like a validation error (HTTP and
    WebSockets alike, subscriptions included)."""

    def __init__(self, limit: int, charge: Charger | None = None) -> None:
        super().__init__()
        self.limit, self.charge = limit, charge

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.graphql_document is not None:
            error = await self._refusal(context, context.graphql_document)
            if error is not None:
                context.pre_execution_errors = [error]
        yield

    async def _refusal(
        self, context: ExecutionContext, document: DocumentNode
    ) -> GraphQLError | None:
        model = cost_model(context.schema._schema)
        cost = model.cost(document, context.operation_name, context.variables, text=context.query)
        # A refused query is charged the most a query may cost: a client looping on
        # refused queries spends its budget like one looping on the costliest it may run.
        refusal = await self.charge(context, min(cost, self.limit)) if self.charge else None
        if refusal is None and cost > self.limit:
            return too_costly(cost, self.limit)
        return refusal
