"""Amounts, ids and cursors take ASCII digits only: Python's `\\d`, str.isdigit() and int()
accept other scripts' digits too."""

from __future__ import annotations

import base64
import sys
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adledger.domain.errors import InvalidInput
from adledger.domain.money import Currency, parse_amount
from adledger.schema.ids import from_cursor, from_global_id, to_cursor, to_global_id

# Every character Python may read as a number, outside ASCII: Arabic-Indic, Devanagari,
# fullwidth, superscripts, circled digits, fractions...
NON_ASCII_NUMERALS = st.sampled_from(
    [chr(code) for code in range(128, sys.maxunicode + 1) if chr(code).isnumeric()]
)
ASCII_TEXT = st.text(alphabet=st.characters(max_codepoint=127), max_size=12)
DECIMAL = st.from_regex(r"-?[0-9]{1,8}(\.[0-9]{1,2})?", fullmatch=True)


@st.composite
def with_numeral(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """The base text with one non-ASCII numeral inserted, or replacing one character."""
    text = draw(base)
    at = draw(st.integers(0, len(text)))
    numeral = draw(NON_ASCII_NUMERALS)
    replace = draw(st.booleans()) and at < len(text)
    return text[:at] + numeral + text[at + (1 if replace else 0) :]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@given(with_numeral(DECIMAL | ASCII_TEXT))
def test_an_amount_with_a_non_ascii_numeral_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(text, Currency.USD, ("input", "amount"))


@given(DECIMAL)
def test_an_amount_of_ascii_digits_parses(text: str) -> None:
    assert parse_amount(text, Currency.USD, signed=True).minor == int(Decimal(text) * 100)


@given(with_numeral(st.from_regex(r"[0-9]{1,17}", fullmatch=True)))
def test_a_global_id_with_a_non_ascii_numeral_is_no_id(digits: str) -> None:
    assert from_global_id(b64(f"Wallet:{digits}")) is None
    assert from_global_id(f"Wallet:{digits}") is None
    with pytest.raises(ValueError, match="invalid cursor"):
        from_cursor(b64(f"cursor:{digits}"))


@given(st.integers(1, 10**18 - 1))
def test_our_own_ids_and_cursors_round_trip(db_id: int) -> None:
    assert from_global_id(to_global_id("Wallet", db_id)) == ("Wallet", db_id)
    assert from_cursor(to_cursor(db_id)) == db_id


def test_an_amount_padded_beyond_its_bound_is_refused_before_stripping() -> None:
    with pytest.raises(InvalidInput, match="larger than the platform accepts"):
        parse_amount(" " * 100 + "1", Currency.USD)


def test_a_type_name_must_be_ascii() -> None:
    assert from_global_id(b64("Wa\u0142let:1")) is None
