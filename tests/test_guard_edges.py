"""The balance guard decides at the end of each transaction (services/balance_guard.py):
every edge that commits work which may move money settles it first. A new commit that
does not fails here until it settles, or is added below with why it moves no money."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "adledger"

# Commits of work that moves no customer money: (file, the function around it).
NO_MONEY = {
    ("app/cli.py", "_create_user"),
    ("app/cli.py", "_add_member"),
    ("jobs/ledger.py", "verify_from_checkpoint"),  # the ledger check's checkpoint
    ("resolvers/context.py", "_note_activity"),  # a member's first request of a day
}

_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)")


def _commits_without_settle() -> set[tuple[str, str]]:
    found = set()
    for path in ROOT.rglob("*.py"):
        lines = path.read_text().splitlines()
        function = "<module>"
        for index, line in enumerate(lines):
            if match := _DEF.match(line):
                function = match.group(1)
            if ".commit()" not in line or line.lstrip().startswith("#"):
                continue
            before = "\n".join(lines[max(0, index - 3) : index])
            if "settle" not in before and "before_commit" not in before:
                found.add((str(path.relative_to(ROOT)), function))
    return found


def test_every_commit_of_money_settles_the_balance_guard_first() -> None:
    assert _commits_without_settle() == NO_MONEY
