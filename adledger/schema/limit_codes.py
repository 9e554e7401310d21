"""An `extensions.code` on the errors of strawberry's depth, alias and token limits, which
report bare messages: a client tells the limits apart by code (docs/api.md, "Limits"),
as it does QUERY_TOO_COMPLEX (schema/limits.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, ValidationContext, ValidationRule
from strawberry.extensions import MaxTokensLimiter

QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS = "TOO_MANY_TOKENS"


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    error.extensions = {**(error.extensions or {}), "code": code}
    return error


class _CodedContext:
    """The validation context a rule sees: each error it reports carries `code`."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(_with_code(error, self._code))


def coded_rules(rules: list[type[ValidationRule]], code: str) -> list[type[ValidationRule]]:
    """The rules, each reporting its errors with `code`."""
    return [_coded(rule, code) for rule in rules]


def _coded(rule: type[ValidationRule], code: str) -> type[ValidationRule]:
    class Coded(rule):  # type: ignore[valid-type,misc]
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(_CodedContext(context, code))

    Coded.__name__ = Coded.__qualname__ = rule.__name__
    return Coded


class CodedMaxTokensLimiter(MaxTokensLimiter):
    """strawberry's token limit: graphql-core's parser refuses the document with a plain
    syntax error, given a code here."""

    def on_operation(self) -> Iterator[None]:
        # ParserCache parses on entering its on_parse hook: the error leaves the parsing
        # hooks unfinished and reaches the operation's.
        self.execution_context.parse_options["max_tokens"] = self.max_token_count
        try:
            yield
        except GraphQLSyntaxError as error:
            _code_if_tokens(error)
            raise

    def on_parse(self) -> Iterator[None]:
        yield  # strawberry's own parse sets the error as the operation's
        for error in self.execution_context.pre_execution_errors or ():
            _code_if_tokens(error)


def _code_if_tokens(error: GraphQLError) -> None:
    if isinstance(error, GraphQLSyntaxError) and "tokens. Parsing aborted" in error.message:
        _with_code(error, TOO_MANY_TOKENS)
