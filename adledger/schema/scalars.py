"""Scalars of the contract. Decimal keeps the client's text untouched: the domain parses it,
so a malformed or over-precise amount becomes a typed INVALID_INPUT, not a GraphQL error."""

from __future__ import annotations

from typing import NewType

import strawberry
from graphql import FloatValueNode, IntValueNode, StringValueNode, ValueNode

DecimalText = NewType("DecimalText", str)


def _literal(node: ValueNode, _variables: object = None) -> object:
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return node.value
    return node


SCALAR_MAP = {
    DecimalText: strawberry.scalar(
        name="Decimal",
        description='An exact decimal number, sent and received as a string: "1000.00".',
        serialize=str,
        parse_value=lambda value: value,
        parse_literal=_literal,
    )
}
