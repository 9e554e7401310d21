"""Progress of long command-line work on stderr: a bar redrawn in place on a terminal, a
line per step otherwise (logs and CI keep every step)."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self.title = title
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()

    def __call__(self, label: str, done: int, total: int, count: int) -> None:
        filled = WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (WIDTH - filled)
        line = f"{self.title} [{bar}] {done}/{total} {label}: {count:,} postings"
        if self.live:
            end = "\n" if done >= total else ""
            self.stream.write(f"\r\033[K{line}{end}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
