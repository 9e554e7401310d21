"""One check of every text a mutation receives, before its resolver runs.

PostgreSQL cannot store a NUL character, nor UTF-8 encode a lone surrogate ("\\ud800" is
valid JSON): such a string would only fail deep in a write, as an unexpected error. Here it
is an INVALID_INPUT naming the field, and nothing runs. A hard ceiling on length bounds
what any resolver works on; services keep their own, tighter, per-field bounds.

`guard_mutations` attaches the check to every field of the Mutation type, so mutations
added later are covered without knowing about it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import FieldExtension
from strawberry.types import Info
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.union import StrawberryUnion

from adledger.domain.errors import ErrorCode, InvalidInput
from adledger.schema.errors import InvalidInputError, to_user_error

MAX_INPUT_TEXT_LENGTH = 10_000

Path = tuple[str, ...]


def text_problem(text: str) -> str | None:
    """Why this text cannot be taken, if it cannot."""
    if len(text) > MAX_INPUT_TEXT_LENGTH:
        return f"is longer than {MAX_INPUT_TEXT_LENGTH} characters"
    return _unstorable(text)


def _unstorable(text: str) -> str | None:
    """Why PostgreSQL could not store this text, if it could not: a NUL, or a character
    UTF-8 cannot encode. Either is in the concatenation of texts iff it is in one of them
    (Python never pairs the surrogates of two strings)."""
    if "\x00" in text:
        return "may not contain the NUL character (U+0000)"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode text"
    return None


def _children(value: Any, path: Path, info: Info) -> Iterator[tuple[Path, Any]]:
    definition = getattr(type(value), "__strawberry_definition__", None)
    if isinstance(definition, StrawberryObjectDefinition) and definition.is_input:
        names = info.schema.config.name_converter
        for field in definition.fields:
            yield (*path, names.get_graphql_name(field)), getattr(value, field.python_name, None)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield (*path, str(index)), item
    elif isinstance(value, dict):  # a scalar that passes JSON through
        for key, item in value.items():
            yield (*path, str(key)), key
            yield (*path, str(key)), item


def _has_bad_text(values: Iterable[Any]) -> bool:
    """The quick pass: whether any text is bad, without the paths that name it (building
    them for every value of a 1,000-event batch cost more than the check itself). The
    texts are gathered, then checked at once: their longest, and their concatenation."""
    texts: list[str] = []
    stack = list(values)
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is str:
            texts.append(value)
        elif kind is list or kind is tuple:
            stack.extend(value)
        elif fields := _input_fields(kind):
            stack.extend([getattr(value, name, None) for name in fields])
        elif isinstance(value, str):  # a str subclass: an enum's value
            texts.append(value)
        elif isinstance(value, list | tuple):
            stack.extend(value)
        elif isinstance(value, dict):  # a scalar that passes JSON through
            stack.extend(value.keys())
            stack.extend(value.values())
    longest = max(map(len, texts), default=0)
    return longest > MAX_INPUT_TEXT_LENGTH or _unstorable("".join(texts)) is not None


@functools.cache
def _input_fields(cls: type) -> tuple[str, ...]:
    definition = getattr(cls, "__strawberry_definition__", None)
    if isinstance(definition, StrawberryObjectDefinition) and definition.is_input:
        return tuple(field.python_name for field in definition.fields)
    return ()


def find_bad_text(
    arguments: dict[str, Any], field: StrawberryField, info: Info
) -> InvalidInput | None:
    """The first argument text (walked without recursion) that cannot be taken."""
    if not _has_bad_text(arguments.values()):
        return None
    names = info.schema.config.name_converter
    graphql_names = {arg.python_name: names.from_argument(arg) for arg in field.arguments}
    stack: list[tuple[Path, Any]] = [
        ((graphql_names.get(name, name),), value) for name, value in arguments.items()
    ]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                return InvalidInput(f"{'.'.join(path)} {problem}", path)
        else:
            stack.extend(reversed(list(_children(value, path, info))))
    return None


class GuardInputText(FieldExtension):
    """Answer the field's InvalidInputError (or, when its type has none, a GraphQL error
    with code INVALID_INPUT) instead of running it on text it could not store."""

    def apply(self, field: StrawberryField) -> None:
        self.field = field

    def _refusal(self, info: Info, kwargs: dict[str, Any]) -> Any:
        bad = find_bad_text(kwargs, self.field, info)
        if bad is None:
            return None
        field_type = self.field.type
        if isinstance(field_type, StrawberryUnion) and InvalidInputError in field_type.types:
            return to_user_error(bad, (InvalidInputError,))
        raise GraphQLError(
            bad.message,
            extensions={"code": ErrorCode.INVALID_INPUT.value, "field": list(bad.field)},
        )

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        refusal = self._refusal(info, kwargs)
        return refusal if refusal is not None else next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        refusal = self._refusal(info, kwargs)
        return refusal if refusal is not None else await next_(source, info, **kwargs)


def guard_mutations(mutation_type: type) -> None:
    """Attach the check to every mutation field (once, however often the schema is built)."""
    definition: StrawberryObjectDefinition = mutation_type.__strawberry_definition__  # type: ignore[attr-defined]
    for field in definition.fields:
        if not any(isinstance(extension, GuardInputText) for extension in field.extensions):
            field.extensions.append(GuardInputText())
