"""The served schema's mutations, walked: each one's UserError members, and a minimal
valid-looking input built from its input types (for calls made with any token)."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
)

from adledger.resolvers.root import build_schema
from adledger.schema.ids import to_global_id

# What an id field names, when its name alone does not say it ("requestId").
_ID_TYPES = {"requestId": "CancellationRequest", "offerId": "MakegoodOffer"}
_SCALARS: dict[str, object] = {
    "String": "x",
    "Int": 1,
    "Boolean": False,
    "Float": 1.0,
    "DateTime": "2999-01-01T00:00:00Z",
    "Decimal": "1.00",
}


def served_schema() -> GraphQLSchema:
    return build_schema()._schema


def mutations(schema: GraphQLSchema) -> dict[str, GraphQLField]:
    assert schema.mutation_type is not None
    return dict(schema.mutation_type.fields)


def result_union(field: GraphQLField) -> GraphQLUnionType:
    result = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    assert isinstance(result, GraphQLUnionType), result
    return result


def user_error_members(field: GraphQLField) -> list[GraphQLObjectType]:
    return [
        member
        for member in result_union(field).types
        if any(interface.name == "UserError" for interface in member.interfaces)
    ]


def id_for(field_name: str, ids: dict[str, str]) -> str:
    """A real id from `ids` (keyed by type name) when there is one, else one of the type
    the field names that exists nowhere."""
    type_name = _ID_TYPES.get(field_name) or _pascal(re.sub(r"Id$", "", field_name))
    type_name = {"FromWallet": "Wallet", "ToWallet": "Wallet"}.get(type_name, type_name)
    return ids.get(type_name) or to_global_id(type_name, 987654321)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def minimal_value(type_: GraphQLInputType, name: str, ids: dict[str, str]) -> Any:
    """A value of `type_` with only its required fields, each valid-looking."""
    if isinstance(type_, GraphQLNonNull):
        return minimal_value(type_.of_type, name, ids)
    if isinstance(type_, GraphQLList):
        return [minimal_value(type_.of_type, name, ids)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            field_name: minimal_value(field.type, field_name, ids)
            for field_name, field in type_.fields.items()
            if isinstance(field.type, GraphQLNonNull) and field.default_value is Undefined
        } | _currency_of(type_)
    assert isinstance(type_, GraphQLScalarType)
    if type_.name == "ID":
        return id_for(name, ids)
    return _SCALARS[type_.name]


def _currency_of(type_: GraphQLInputObjectType) -> dict[str, Any]:
    return {"currencyCode": "USD"} if "currencyCode" in type_.fields else {}


def call(name: str, field: GraphQLField, ids: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The mutation's document, selecting its UserError's code, and its variables."""
    input_type = field.args["input"].type
    document = (
        f"mutation($input: {input_type}) {{ {name}(input: $input) {{ "
        "__typename ... on UserError { code message field } } }"
    )
    return document, {"input": minimal_value(input_type, "input", ids)}
