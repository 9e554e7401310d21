"""What refusing a fragment fan-out costs, against running `{ __typename }`, in one run.

    python bench/fragment_fanout.py [--levels 20] [--rounds 5] [--requests 2000]

Both documents go through the served schema (parse, limits, validation, execution) in
this process; neither touches a database, so no server is needed. Every request carries a
new text (fragment names, an alias), so the parser and validation caches never answer, as
for an attacker who varies the document. The two alternate round by round and the median
microseconds per request are compared. strawberry logs every refused document (as any
validation error) to stderr when nothing configured logging; that logger is silenced here.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import strawberry

from adledger.app.settings import Settings
from adledger.resolvers.root import build_schema


def fan_out(levels: int, tag: int) -> str:
    """Each fragment spreads the next one twice: 2^levels selections once expanded."""
    spreads = " ".join(
        f"fragment F{tag}x{i} on Query {{ ...F{tag}x{i + 1} ...F{tag}x{i + 1} }}"
        for i in range(levels)
    )
    return f"query {{ ...F{tag}x0 }} {spreads} fragment F{tag}x{levels} on Query {{ __typename }}"


def typename(tag: int) -> str:
    return f"{{ t{tag}: __typename }}"


async def _per_request(
    schema: strawberry.Schema, document: Callable[[int], str], requests: int, start: int
) -> float:
    """Mean microseconds per request over one round."""
    began = time.perf_counter()
    for tag in range(start, start + requests):
        await schema.execute(document(tag))
    return (time.perf_counter() - began) / requests * 1e6


async def _measure(levels: int, rounds: int, requests: int) -> dict[str, float]:
    settings = Settings()
    schema = build_schema(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_tokens=settings.max_tokens,
        max_query_nodes=settings.max_query_nodes,
        max_fragment_spreads=settings.max_fragment_spreads,
        max_field_repeats=settings.max_field_repeats,
    )
    documents = {"typename": typename, "fan-out": lambda tag: fan_out(levels, tag)}
    refused = await schema.execute(fan_out(levels, 0))
    if not refused.errors or refused.errors[0].extensions != {"code": "QUERY_TOO_COMPLEX"}:
        raise SystemExit(f"the fan-out was not refused: {refused}")
    samples: dict[str, list[float]] = {name: [] for name in documents}
    tag = 1
    for _ in range(rounds + 1):  # the first round warms up and is dropped
        for name, document in documents.items():
            samples[name].append(await _per_request(schema, document, requests, tag))
            tag += requests
    return {name: statistics.median(values[1:]) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--levels", type=int, default=20, help="2^levels expanded selections")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per document")
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    args = parser.parse_args()
    logging.getLogger("strawberry.execution").disabled = True
    cost = asyncio.run(_measure(args.levels, args.rounds, args.requests))
    fan_out_label = f"fan-out of {args.levels} levels, refused"
    print(
        f"adledger fragment fan-out benchmark, {datetime.now(UTC).date().isoformat()}: "
        f"{args.rounds} interleaved rounds of {args.requests} requests, medians\n"
        f"  {'{ __typename }':32} {cost['typename']:8.1f} us/request\n"
        f"  {fan_out_label:32} {cost['fan-out']:8.1f} us/request\n"
        f"  ratio fan-out / typename: {cost['fan-out'] / cost['typename']:.2f}"
    )


if __name__ == "__main__":
    main()
