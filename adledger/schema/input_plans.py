"""Input types that build themselves from a plan computed once.

For every input object, Strawberry resolves each field's type and GraphQL name again;
`recordSpend` carries up to 1,000 events, and that bookkeeping cost more than recording
them. A planned type keeps, per field, its GraphQL name, Python name and type, and passes
the scalars graphql-core already coerced (strings, ids, numbers, dates) straight through;
enums and nested inputs still go through Strawberry's own conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from strawberry.relay import GlobalID
from strawberry.types.arguments import InputContext
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

T = TypeVar("T", bound=type)

Builder = Callable[[Any, Any, InputContext], Any]
Plan = list[tuple[str, str, Any, Builder | None]]


def planned(cls: T) -> T:
    definition = get_object_definition(cls, strict=True)
    assert definition.is_input, f"{cls.__name__} is not an input type"
    plan: Plan = []

    def from_input(type_: type, value: Mapping[str, Any], context: InputContext) -> Any:
        if not plan:
            plan.extend(_plan_of(cls, context))
        kwargs = {}
        for graphql_name, python_name, field_type, build in plan:
            if graphql_name in value:
                raw = value[graphql_name]
                if build is _AS_IS or raw is None:
                    kwargs[python_name] = raw
                elif build is not None:
                    kwargs[python_name] = build(field_type, raw, context)
                else:
                    kwargs[python_name] = context.convert(raw, field_type, graphql_name)
        return type_(**kwargs)

    definition.from_input = from_input
    return cls


def _plan_of(cls: type, context: InputContext) -> Plan:
    definition = get_object_definition(cls, strict=True)
    name_of: Callable[[Any], str] = context.config.name_converter.from_field
    return [
        (name_of(field), field.python_name, field_type, _builder(field_type, context))
        for field in definition.fields
        for field_type in [field.resolve_type(type_definition=definition)]
    ]


def _AS_IS(_type: Any, value: Any, _context: InputContext) -> Any:
    return value


def _builder(field_type: Any, context: InputContext) -> Builder | None:
    """How to build a field's value: as is, by a planned input type directly, item by
    item for a list of one (its location in the input is then not tracked), or by
    Strawberry (None)."""
    if _is_scalar(field_type, context):
        return _AS_IS
    nested = _planned_input(field_type)
    if nested is not None:
        return nested
    if isinstance(field_type, StrawberryList) and not isinstance(
        field_type.of_type, StrawberryOptional
    ):
        item = _planned_input(field_type.of_type)
        if item is not None:
            return _each(item)
    return None


def _planned_input(field_type: Any) -> Builder | None:
    nested = get_object_definition(field_type)
    if nested is not None and nested.from_input is not None and nested.is_input:
        return nested.from_input
    return None


def _each(build: Builder) -> Builder:
    def build_each(field_type: Any, value: Any, context: InputContext) -> Any:
        item_type = field_type.of_type
        return [build(item_type, item, context) for item in value]

    return build_each


def _is_scalar(field_type: Any, context: InputContext) -> bool:
    """graphql-core hands scalars and enums over ready to use (a custom scalar's value is
    parsed, an enum's is its member), as Strawberry's own conversion assumes too."""
    if isinstance(field_type, StrawberryOptional):
        field_type = field_type.of_type
    if field_type is GlobalID:
        return False
    # A field's resolved enum type is its definition, not the enum class.
    if isinstance(field_type, StrawberryEnumDefinition):
        return True
    return field_type in context.scalar_registry or has_enum_definition(field_type)
