"""Fault points for the process tests (tests/integration/test_outbox_faults.py): with
`ADLEDGER_FAULT=<point>` set, the process kills itself (SIGKILL, no cleanup) when it
reaches that point, as a crash or an OOM kill would. Unset, a point costs one lookup.

Points: `after-commit` (the API process, after a commit that declared effects, before
running them), `mid-effect` (any process, after an effect's provider call, before it is
marked done). Stdlib only.
"""

from __future__ import annotations

import os
import signal

ENV = "ADLEDGER_FAULT"


def hit(point: str) -> None:
    if os.environ.get(ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
