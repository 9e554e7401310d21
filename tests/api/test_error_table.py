"""Every UserError code a mutation of the served schema can return is in docs/api.md's
error table: each member of its result union implementing UserError, with every code
that type can carry."""

from __future__ import annotations

import re
from pathlib import Path

from adledger.schema.errors import codes_of_type
from tests.api.schema_walk import mutations, served_schema, user_error_members

API_GUIDE = Path(__file__).parents[2] / "docs" / "api.md"
ROW = re.compile(r"^\| `(\w+)` \| `(\w+)` \|", re.MULTILINE)


def _table() -> set[tuple[str, str]]:
    """(type, code) rows of the `| type | code | when |` table of "Mutations and errors"."""
    text = API_GUIDE.read_text()
    section = text.split("## Mutations and errors", 1)[1].split("\n## ", 1)[0]
    table = section.split("| type | code | when |", 1)[1].split("\n\n", 1)[0]
    return set(ROW.findall(table))


def test_every_code_a_mutation_can_return_is_in_the_error_table() -> None:
    # given the table and the served schema
    table = _table()
    schema = served_schema()
    # when every mutation's error types are walked, with each code they carry
    missing = {
        (name, member.name, code)
        for name, field in mutations(schema).items()
        for member in user_error_members(field)
        for code in codes_of_type(member.name)
        if (member.name, code) not in table
    }
    # then none is missing
    assert not missing, sorted(missing)


def test_every_error_type_carries_a_code() -> None:
    schema = served_schema()
    types = {m.name for field in mutations(schema).values() for m in user_error_members(field)}
    assert {name for name in types if not codes_of_type(name)} == set()


SOURCES = Path(__file__).parents[2] / "adledger"
# Where a top-level code is written: an `extensions` literal, a code constant of the limits,
# or the codes error_log.py gives GraphQL's own refusals.
CODE_LITERAL = re.compile(r'"code": "([A-Z_]+)"')
CODE_CONSTANT = re.compile(r'^[A-Z_]+ = "([A-Z_]+)"$', re.MULTILINE)
ASSIGNED_CODE = re.compile(r'^\s+code = "([A-Z_]+)"', re.MULTILINE)
CODE_FILES = (
    "schema/limits.py",
    "schema/cost.py",
    "schema/limit_codes.py",
    "resolvers/rate_limit.py",
)


def _top_level_table() -> str:
    text = API_GUIDE.read_text()
    return text.split("Errors outside a mutation's answer", 1)[1].split("\n\n", 2)[1]


def test_every_top_level_code_the_api_writes_is_in_the_guide() -> None:
    # given every code the sources put in `extensions.code`
    written = {
        code
        for path in SOURCES.rglob("*.py")
        for pattern in (CODE_LITERAL, ASSIGNED_CODE)
        for code in pattern.findall(path.read_text())
    }
    written |= {
        code for name in CODE_FILES for code in CODE_CONSTANT.findall((SOURCES / name).read_text())
    }
    # when the guide's table of top-level codes is read
    table = _top_level_table()
    # then each is in it
    assert len(written) > 15
    assert sorted(code for code in written if f"`{code}`" not in table) == []
