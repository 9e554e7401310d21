"""The text guard on a mutation it knows nothing about: sync or async, union or not."""

from __future__ import annotations

from typing import Annotated

import strawberry
from hypothesis import given, settings
from hypothesis import strategies as st

from adledger.schema.errors import InvalidInputError, UserError
from adledger.schema.input_guard import _has_bad_text, guard_mutations, text_problem

ran: list[str] = []


@strawberry.input
class NoteInput:
    text: str
    tags: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class NoteSuccess:
    ok: bool


NoteResult = Annotated[NoteSuccess | InvalidInputError, strawberry.union("NoteResult")]


@strawberry.type
class Query:
    ping: bool = True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def add_note(self, input: NoteInput) -> NoteResult:
        ran.append(input.text)
        return NoteSuccess(ok=True)

    @strawberry.mutation
    def rename_thing(self, new_name: str) -> bool:
        ran.append(new_name)
        return True


guard_mutations(Mutation)
guard_mutations(Mutation)  # building a schema twice attaches it once
SCHEMA = strawberry.Schema(query=Query, mutation=Mutation, types=[UserError])

ADD_NOTE = """mutation($input: NoteInput!) { addNote(input: $input) {
  __typename ... on UserError { code message field } } }"""


async def test_a_nul_in_a_list_of_an_input_is_the_invalid_input_member() -> None:
    ran.clear()
    result = await SCHEMA.execute(ADD_NOTE, {"input": {"text": "hi", "tags": ["a", "b\x00"]}})
    assert result.errors is None
    assert result.data == {
        "addNote": {
            "__typename": "InvalidInputError",
            "code": "INVALID_INPUT",
            "message": "input.tags.1 may not contain the NUL character (U+0000)",
            "field": ["input", "tags", "1"],
        }
    }
    assert ran == []


async def test_a_mutation_without_an_error_member_gets_a_graphql_error() -> None:
    ran.clear()
    result = await SCHEMA.execute('mutation { renameThing(newName: "a\\u0000b") }')
    assert result.data is None
    [error] = result.errors or []
    assert error.extensions == {"code": "INVALID_INPUT", "field": ["newName"]}
    assert ran == []


async def test_ordinary_text_runs_the_mutation() -> None:
    ran.clear()
    result = await SCHEMA.execute(ADD_NOTE, {"input": {"text": "hi \u00e9\U0001f600"}})
    assert result.data == {"addNote": {"__typename": "NoteSuccess"}}
    assert ran == ["hi \u00e9\U0001f600"]
    assert [type(e).__name__ for e in Mutation.__strawberry_definition__.fields[0].extensions] == [
        "GuardInputText"
    ]


_TEXTS = st.lists(
    st.one_of(
        st.text(max_size=20),
        st.sampled_from(["\x00", "\ud800", "\udc00", "é", "x" * 10_001, "x" * 10_000]),
    ),
    max_size=8,
)


@settings(max_examples=300)
@given(texts=_TEXTS, nested=st.booleans())
def test_the_quick_pass_finds_bad_text_exactly_when_one_text_is_bad(
    texts: list[str], nested: bool
) -> None:
    # given texts, flat or spread over lists and dicts (two lone surrogates of two texts
    # do not make a pair: each is still unstorable)
    values: list[object] = [[t, {"k": [t]}] for t in texts] if nested else list(texts)

    # when the quick pass checks them all at once, then it agrees with each text's check
    assert _has_bad_text(values) == any(text_problem(t) is not None for t in texts)
