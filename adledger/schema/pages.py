"""Page arguments and PageInfo, shared by every connection."""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from graphql import GraphQLError

from adledger.schema.ids import from_cursor, to_cursor

MAX_PAGE_SIZE = 100


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass(frozen=True, slots=True)
class PageArgs:
    """`first` capped at MAX_PAGE_SIZE; `fetch` asks one row more to learn hasNextPage."""

    first: int
    after_id: int | None

    @property
    def fetch(self) -> int:
        return self.first + 1

    @classmethod
    def parse(cls, first: int | None, after: str | None) -> PageArgs:
        problem = page_problem(first, after)
        if problem is not None:
            raise GraphQLError(problem, extensions={"code": "INVALID_INPUT"})
        return cls(min(first if first is not None else 20, MAX_PAGE_SIZE), from_cursor(after))

    def page_info(self, ids: list[int], fetched: int) -> PageInfo:
        return PageInfo(
            has_next_page=fetched > self.first,
            has_previous_page=self.after_id is not None,
            start_cursor=to_cursor(ids[0]) if ids else None,
            end_cursor=to_cursor(ids[-1]) if ids else None,
        )


def page_problem(first: object, after: object) -> str | None:
    """Why these page arguments cannot be answered, if they cannot. Also asked before a
    mutation runs, of every connection its answer selects (schema/readable.py)."""
    if isinstance(first, int) and first < 0:
        return "`first` may not be negative"
    if isinstance(after, str):
        try:
            from_cursor(after)
        except ValueError:
            return "`after` is not a cursor"
    return None
