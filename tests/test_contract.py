"""The served schema is a superset of the public contract, except what later issues add.

The contract is the repository's own copy (`adledger/schema/contract.graphql`), kept
unchanged: the team's original lives outside the repository and is updated by copying.
"""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema as build_sdl

from adledger.resolvers.root import build_schema
from adledger.schema.contract import breaking_coordinates, read_pending

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "adledger" / "schema" / "contract.graphql"
PENDING = Path(__file__).resolve().parent / "contract_pending.txt"
EXPORTED = ROOT / "schema.graphql"


def _breaking() -> dict[str, str]:
    return breaking_coordinates(CONTRACT.read_text(), build_schema()._schema)


def test_every_breaking_change_is_a_pending_coordinate() -> None:
    unexpected = {c: d for c, d in _breaking().items() if c not in read_pending(PENDING)}
    assert unexpected == {}


def test_no_pending_coordinate_is_served_already() -> None:
    served = read_pending(PENDING) - set(_breaking())
    assert served == set(), "remove these lines from tests/contract_pending.txt"


def test_the_exported_sdl_is_committed_and_current() -> None:
    assert EXPORTED.read_text() == build_schema().as_str() + "\n", (
        "run `adledger export-schema --output schema.graphql`"
    )


def test_the_exported_sdl_builds() -> None:
    build_sdl(EXPORTED.read_text())
