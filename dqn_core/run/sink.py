"""Where a run's metrics and files go besides the run directory: the sink interface.

The training loop writes everything to the run directory first (the source of
truth) and hands the same rows and files to a :class:`RunSink`. The loop knows
nothing else about the sink: the harness passes the MLflow tracker
(:class:`dqn_core.tracking.Tracker` satisfies this protocol), tests and library
users may pass their own, and :class:`NullSink` (the default) drops everything.
A sink must never block or fail the loop; the MLflow tracker buffers and retries.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import torch


class RunSink(Protocol):
    """What the training loop calls, in this order: start, then any of the logging
    calls (``flush`` after each metrics row), then ``finish`` exactly once."""

    def start(self) -> str | None:
        """Begin (or resume) the run's record; returns an id, or None when nothing records."""
        ...

    def log_metrics(self, metrics: Mapping[str, float], step_frames: int) -> None:
        """One metrics row: name -> value, at ``step_frames`` emulator frames."""
        ...

    def flush(self) -> None:
        """Hand what was logged so far on (the row is complete)."""
        ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> bool:
        """A file of the run directory (a policy, eval.csv, summary.json...)."""
        ...

    def log_model(
        self,
        module: torch.nn.Module,
        name: str = "policy",
        *,
        input_example: Any = None,
        metrics: Mapping[str, float] | None = None,
        step_frames: int = 0,
    ) -> str | None:
        """The trained online network, named ``name``, with its final ``metrics``."""
        ...

    def finish(self, status: str = "FINISHED") -> None:
        """The run ended with ``status`` (FINISHED, KILLED or FAILED)."""
        ...


class NullSink:
    """A sink that records nothing: a run with only its run directory."""

    def start(self) -> str | None:
        return None

    def log_metrics(self, metrics: Mapping[str, float], step_frames: int) -> None:
        return None

    def flush(self) -> None:
        return None

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> bool:
        return False

    def log_model(
        self,
        module: torch.nn.Module,
        name: str = "policy",
        *,
        input_example: Any = None,
        metrics: Mapping[str, float] | None = None,
        step_frames: int = 0,
    ) -> str | None:
        return None

    def finish(self, status: str = "FINISHED") -> None:
        return None
