"""How GraphQL errors reach the log and the client.

Strawberry logs every error at ERROR with a traceback, a client's typo as loudly as a bug.
Here a client's mistake (a missing token, a bad enum, a missing variable, a refused limit,
a UserError answer) is one INFO line, and only an error nobody raised on purpose is an
ERROR with its traceback; the client gets it masked, with the request id that finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import FieldExtension, MaskErrors
from strawberry.types import ExecutionContext, Info
from strawberry.types.base import StrawberryObjectDefinition

from adledger.request_scope import current_request_id, current_scope, note_operation
from adledger.schema.errors import UserError

log = logging.getLogger("adledger.graphql")

MAX_LOGGED_MESSAGE = 300


def is_unexpected(error: GraphQLError) -> bool:
    """Anything we did not raise on purpose; validation and our GraphQLErrors are not."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def _operation(execution_context: ExecutionContext | None) -> str | None:
    if execution_context is None:
        return None
    try:
        return execution_context.operation_name
    except Exception:  # a document that did not parse has no operation to name
        return None


def _loggable(error: GraphQLError) -> str:
    """The message in one line; a variable's message stops before the value it quotes
    (a client may send anything there, a card number included)."""
    message = error.message
    if message.startswith("Variable '$"):
        message = message.split(":", 1)[0].split(";", 1)[0]
    return " ".join(message.split())[:MAX_LOGGED_MESSAGE]


def _where(error: GraphQLError) -> str:
    return " at " + ".".join(str(part) for part in error.path) if error.path else ""


def _fields(operation: str | None) -> dict[str, Any]:
    scope = current_scope()
    return {
        "request_id": current_request_id(),
        "operation": operation or (scope.operation if scope else None),
    }


class LoggedSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        operation = _operation(execution_context)
        note_operation(operation)
        for error in errors:
            if is_unexpected(error):
                log.error(
                    "unexpected error%s: %s",
                    _where(error),
                    _loggable(error),
                    exc_info=error.original_error,
                    extra=_fields(operation),
                )
                continue
            code = (error.extensions or {}).get("code", "GRAPHQL_ERROR")
            log.info(
                "client error %s%s: %s",
                code,
                _where(error),
                _loggable(error),
                extra=_fields(operation),
            )


def _code(error: GraphQLError) -> None:
    """Every top-level error names its kind in `extensions.code`, those GraphQL itself
    reports (Apollo's codes) as well as ours: a client switches on codes, not messages."""
    if error.extensions and "code" in error.extensions:
        return
    if isinstance(error, GraphQLSyntaxError):
        code = "GRAPHQL_PARSE_FAILED"
    elif error.message.startswith("Variable '$"):
        code = "BAD_USER_INPUT"  # a variable missing, or of the wrong type
    elif not error.path:
        code = "GRAPHQL_VALIDATION_FAILED"
    else:
        return
    error.extensions = {**(error.extensions or {}), "code": code}


class MaskUnexpected(MaskErrors):
    """Strawberry's masking, with the request id in the masked error: what the client
    quotes to support finds the ERROR line and its traceback."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Unexpected error.")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return GraphQLError(
            message=self.error_message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL_ERROR", "requestId": current_request_id()},
        )

    def on_operation(self) -> Iterator[None]:
        try:
            yield from super().on_operation()
        except GraphQLError as error:  # a syntax error leaves the parsing hooks this way
            _code(error)
            raise
        # Also the errors of a request refused before execution, which strawberry's
        # masking does not see (its result is no ExecutionResult).
        for error in getattr(self.execution_context.result, "errors", None) or ():
            _code(error)

    def on_validate(self) -> Iterator[None]:
        # Parsed by now: every line the operation logs, and its access line, can name it.
        note_operation(_operation(self.execution_context))
        yield


class LogUserErrors(FieldExtension):
    """A mutation that answers a UserError was a client's mistake too: one INFO line with
    its code and field, never its input."""

    def apply(self, field: Any) -> None:
        pass

    def _note(self, result: Any, info: Info) -> Any:
        if isinstance(result, UserError):
            log.info(
                "%s answered %s%s",
                info.field_name,
                result.code.value,
                f" (field {'.'.join(result.field)})" if result.field else "",
                extra=_fields(None),
            )
        return result

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        return self._note(next_(source, info, **kwargs), info)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        return self._note(await next_(source, info, **kwargs), info)


def log_user_errors(mutation_type: type) -> None:
    """On every mutation field, once however often the schema is built."""
    definition: StrawberryObjectDefinition = mutation_type.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        if not any(isinstance(extension, LogUserErrors) for extension in field.extensions):
            field.extensions.append(LogUserErrors())
