"""Progress while waiting: one rewritten line on a terminal, plain lines otherwise."""
from __future__ import annotations

import sys
import time

PLAIN_EVERY = 10.0  # seconds between lines when the output is not a terminal


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.started = time.monotonic()
        self.last_line = 0.0
        self.last_text = ""
        self.shown = False

    def show(self, state: str, counts: dict[str, int]) -> None:
        elapsed = time.monotonic() - self.started
        parts = " ".join(f"{name} {number}" for name, number in counts.items() if number)
        clock = f"{int(elapsed) // 60:02d}:{int(elapsed) % 60:02d}"
        text = f"[{clock}] test {state}: {parts or 'no jobs yet'}"
        self.last_text, self.shown = text, False
        if self.terminal:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif time.monotonic() - self.last_line >= PLAIN_EVERY:
            self._line(text)

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
        self.last_line, self.shown = time.monotonic(), True

    def done(self) -> None:
        if self.terminal:
            self.stream.write("\n")
            self.stream.flush()
        elif self.last_text and not self.shown:
            self._line(self.last_text)
