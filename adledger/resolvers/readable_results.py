"""A mutation never answers without its result.

A field the caller may not read answers FORBIDDEN, and inside a mutation's answer that
error nulls the whole answer after the mutation committed: the money moved and the caller
never learns what happened (issue 23: the ad server's `recordSpend` selecting
`stoppedCampaigns { invoices }`). So before a mutation operation runs, the fields its
answer would read (schema/readable.py) are checked against what the caller may read, and
a request selecting one it may not read is refused whole, FORBIDDEN, before any of its
mutations runs:

- staff read every guarded field;
- an integration token (the ad server) reads none: it is never a member of a center;
- a member reads what its role grants in the business centers the mutation's input names.
  Centers where it holds no role are left out: the mutation answers NOT_FOUND there, and
  refusing would tell that the id exists;
- a mutation marked `acts_with(permission)` (transferBalance: MOVE_MONEY) is not checked
  when that permission implies every one its answer reads: it changes nothing for a
  caller who could not read its answer, and no roles are asked.

Page arguments a connection of the answer would refuse (`invoices(first: -1)`) are refused
the same way first, INVALID_INPUT, whoever asks.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

from graphql import (
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    get_argument_values,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from adledger.domain.access import Permission, Role, implies, role_allows
from adledger.resolvers.context import RequestContext
from adledger.schema.ids import from_global_id
from adledger.schema.limits import too_complex
from adledger.schema.readable import (
    BadArgument,
    NeededRead,
    RootField,
    TooLarge,
    Variables,
    Walks,
    acting_permission,
)
from adledger.services.actor import Actor
from adledger.store.subjects import KNOWN_TYPES, roles_in_centers_of

log = logging.getLogger(__name__)
MAX_REPORTED = 10  # errors in one answer; the first ones tell the client what to drop
_WALKS = Walks()


class ReadableResults(SchemaExtension):
    """Refuse a mutation operation whose answer selects a field the caller may not read.
    `budget` bounds the walk over the selection (the document limits bound it first)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget

    async def on_execute(self) -> AsyncIterator[None]:  # type: ignore[override]
        context = self.execution_context
        if context.operation_type is OperationType.MUTATION and context.result is None:
            try:
                errors = await refusals(context, self.budget)
            except Exception:  # refuse: a mutation whose answer was not checked may not run
                log.exception("could not check what a mutation's answer reads")
                errors = [GraphQLError("Unexpected error.")]
            if errors:  # strawberry answers this instead of executing the operation
                context.result = ExecutionResult(data=None, errors=errors)
        yield


async def refusals(context: ExecutionContext, budget: int) -> list[GraphQLError]:
    document = context.graphql_document
    operation = None if document is None else get_operation_ast(document, context.operation_name)
    if document is None or operation is None:
        return []
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    schema = context.schema._schema
    variables = Variables(schema, operation, context.variables)
    try:
        roots = _WALKS.root_fields(
            context.query, context.operation_name, fragments, operation, variables, budget
        )
    except TooLarge:
        return [too_complex("the operation selects too many fields to check")]
    bad = [_unanswerable(arg) for root in roots for arg in root.bad_arguments]
    if bad:
        return bad[:MAX_REPORTED]
    reading = [root for root in roots if root.reads]
    ctx: RequestContext = context.context
    actor = await ctx.actor() if reading else None
    if actor is None:  # nothing to check, or the resolvers answer UNAUTHENTICATED
        return []
    unreadable: dict[tuple[tuple[str, ...], Permission], NeededRead] = {}
    for root in reading:
        for read in await _unreadable(ctx, actor, root, variables):
            unreadable.setdefault((read.path, read.permission), read)
    return [_forbidden(read) for read in list(unreadable.values())[:MAX_REPORTED]]


async def _unreadable(
    ctx: RequestContext, actor: Actor, root: RootField, variables: Variables
) -> list[NeededRead]:
    if actor.is_integration and not actor.is_staff:
        return list(root.reads)
    needed = {read.permission for read in root.reads}
    if all(_granted_wherever_it_acts(actor, permission) for permission in needed):
        return []
    acting = acting_permission(root.definition)
    if acting is not None and all(implies(acting, permission) for permission in needed):
        return []  # it changes nothing for a caller who could not read its answer
    roles = await _roles_in_named_centers(ctx, root, variables)
    lacking = {p for p in needed for r in roles if not role_allows(r, p, is_staff=actor.is_staff)}
    return [read for read in root.reads if read.permission in lacking]


def _granted_wherever_it_acts(actor: Actor, permission: Permission) -> bool:
    """Staff grants, or one every role holds (a caller with no role in a center gets no
    success answer there: NOT_FOUND)."""
    return role_allows(None, permission, is_staff=actor.is_staff) or all(
        role_allows(role, permission) for role in Role
    )


async def _roles_in_named_centers(
    ctx: RequestContext, root: RootField, variables: Variables
) -> list[Role]:
    """The caller's roles in the centers of the objects the field's arguments name."""
    named: dict[str, set[int]] = {}
    for global_id in _argument_ids(root, variables):
        parsed = from_global_id(global_id)
        if parsed is not None and parsed[0] in KNOWN_TYPES:
            named.setdefault(parsed[0], set()).add(parsed[1])
    if not named:
        return []
    actor = await ctx.require_actor()
    roles = await ctx.read(lambda s: roles_in_centers_of(s, actor.user_id, named))
    return [Role(role) for role in roles.values() if role is not None]


def _argument_ids(root: RootField, variables: Variables) -> Iterator[str]:
    """Every ID the field's arguments carry, coerced as execution will (none when execution
    will refuse them: then nothing runs)."""
    values = variables.values()
    if values is None:
        return
    try:
        arguments = get_argument_values(root.definition, root.node, values)
    except GraphQLError:
        return
    for name, argument in root.definition.args.items():
        key = argument.out_name or name
        if key in arguments:
            yield from _ids(argument.type, arguments[key])


def _ids(type_: GraphQLInputType, value: object) -> Iterator[str]:
    stack: list[tuple[GraphQLInputType, object]] = [(type_, value)]
    while stack:
        kind, given = stack.pop()
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if isinstance(kind, GraphQLList) and isinstance(given, list):
            stack.extend((kind.of_type, item) for item in given)
        elif isinstance(kind, GraphQLInputObjectType) and isinstance(given, dict):
            for name, field in kind.fields.items():
                key = field.out_name or name
                if key in given:
                    stack.append((field.type, given[key]))
        elif getattr(kind, "name", None) == "ID" and isinstance(given, str):
            yield given


def _unanswerable(argument: BadArgument) -> GraphQLError:
    return GraphQLError(
        f"{'.'.join(argument.path)}: {argument.problem}: nothing ran. Correct it and send the "
        "request again (with the same idempotency key, if it had one).",
        nodes=[argument.node],
        extensions={"code": "INVALID_INPUT", "selection": list(argument.path)},
    )


def _forbidden(read: NeededRead) -> GraphQLError:
    dotted = ".".join(read.path)
    return GraphQLError(
        f"this caller may not read {dotted} (it needs {read.permission.name} in the business "
        "center): nothing ran. Leave it out of the selection and send the request again "
        "(with the same idempotency key, if it had one).",
        nodes=[read.node],
        extensions={"code": "FORBIDDEN", "selection": list(read.path)},
    )
