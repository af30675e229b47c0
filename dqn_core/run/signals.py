"""Graceful stops: SIGTERM/SIGINT become a flag that the loop and evaluations poll."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Any


class TrainingInterrupted(Exception):
    """SIGTERM or SIGINT arrived; a checkpoint was written before raising."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name} at step {step}")
        self.signum = signum
        self.step = step


class Signals:
    """Turn SIGTERM/SIGINT into a flag the loop polls once per iteration and an
    evaluation once per vector step."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def pending(self) -> bool:
        """Whether a signal arrived (the ``should_stop`` of evaluations)."""
        return self.received is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.received = signum

    def __enter__(self) -> Signals:
        for s in (signal.SIGTERM, signal.SIGINT):
            # signal.signal raises ValueError outside the main thread (e.g. a test runner
            # thread); the loop then simply has no graceful-stop handler.
            with contextlib.suppress(ValueError):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)
