"""Compare the served schema with the public contract (graphql-core find_breaking_changes)."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import BreakingChange, GraphQLSchema, build_schema, find_breaking_changes

# "Query.campaign was removed." -> "Query.campaign"; "Campaign was removed." -> "Campaign";
# "PENDING_FUNDS was removed from enum type CampaignStatus." -> "CampaignStatus.PENDING_FUNDS"
_FIELD = re.compile(r"^(?:Field )?(\w+)\.(\w+) (?:was removed|changed type|arg \w+ was removed)")
_TYPE = re.compile(r"^(\w+) (?:was removed|changed from)")
_ENUM_VALUE = re.compile(r"^(\w+) was removed from enum type (\w+)")
_UNION_MEMBER = re.compile(r"^(\w+) was removed from union type (\w+)")
_ARG = re.compile(r"^(?:Field )?(\w+)\.(\w+) arg (\w+)")


def coordinate(change: BreakingChange) -> str:
    text = change.description
    if match := _ENUM_VALUE.match(text):
        return f"{match[2]}.{match[1]}"
    if match := _UNION_MEMBER.match(text):
        return f"{match[2]}|{match[1]}"
    if match := _ARG.match(text):
        return f"{match[1]}.{match[2]}({match[3]})"
    if match := _FIELD.match(text):
        return f"{match[1]}.{match[2]}"
    if match := _TYPE.match(text):
        return match[1]
    return text


def breaking_coordinates(contract_sdl: str, served: GraphQLSchema) -> dict[str, str]:
    changes = find_breaking_changes(build_schema(contract_sdl), served)
    return {coordinate(change): change.description for change in changes}


def read_pending(path: Path) -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}
