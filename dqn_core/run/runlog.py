"""The run directory's CSV files: ``metrics.csv`` and ``eval.csv``.

Both are append-only while a run is alive and keyed by agent ``step``. On
resume from a checkpoint taken at step S, rows after S (written between the
checkpoint and the crash) are dropped before appending again, so the files
never hold a gap or a duplicate step.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from dqn_core.fileio import atomic_write_text

#: Columns of metrics.csv, in order. ``time_s``, ``train/steps_per_second`` and
#: ``train/frames_per_second`` (agent steps and emulator frames per second of the
#: learning phase) and ``train/warmup_steps_per_second`` (before learning starts)
#: are wall-clock measurements; every other column is a function of the seed.
#: ``train/episode_return`` is the mean of the episodes that ended in the log
#: window (empty when none did); ``train/return_last100`` is the mean of the last
#: 100 episodes (fewer early on), defined at every point once one episode ended.
METRIC_COLUMNS: tuple[str, ...] = (
    "step",
    "frames",
    "time_s",
    "train/episodes",
    "train/episode_return",
    "train/return_last100",
    "train/episode_frames",
    "train/epsilon",
    "train/steps_per_second",
    "train/frames_per_second",
    "train/warmup_steps_per_second",
    "learn/updates",
    "learn/loss",
    "learn/q_mean",
    "learn/grad_norm",
    "replay/size",
    "replay/beta",
    "replay/weight_mean",
    "eval/return_mean",
    "eval/return_std",
    "eval/episodes",
)
#: Columns that index a metrics.csv row (MLflow's step and timestamp); the rest are metrics.
INDEX_COLUMNS: tuple[str, ...] = ("step", "frames", "time_s")
WALL_CLOCK_COLUMNS = (
    "time_s",
    "train/steps_per_second",
    "train/frames_per_second",
    "train/warmup_steps_per_second",
)
#: Columns that earlier releases wrote under another name: a file with the old
#: header is read (and, on resume, rewritten) with the new one.
RENAMED_COLUMNS = {"train/episode_length": "train/episode_frames"}
EVAL_COLUMNS: tuple[str, ...] = ("step", "frames", "episode", "score", "length_frames", "truncated")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return repr(value)
    return str(value)


class CsvLog:
    """An append-only CSV file with a fixed header, truncatable to a step."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        self._fh: IO[str] | None = None

    def read_rows(self) -> list[dict[str, str]]:
        if not self.path.exists():
            return []
        with self.path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or tuple(reader.fieldnames) == self.columns:
                return list(reader)
            # A file from an earlier release: columns it lacks read as empty.
            names = [RENAMED_COLUMNS.get(n, n) for n in reader.fieldnames]
            unknown = [n for n in names if n not in self.columns]
            if unknown or len(set(names)) != len(names):
                raise ValueError(
                    f"{self.path}: unexpected header {reader.fieldnames}; "
                    f"expected {list(self.columns)}"
                )
            return [{RENAMED_COLUMNS.get(k, k): v for k, v in row.items()} for row in reader]

    def open(self, keep_until_step: int) -> int:
        """Open for appending, first dropping rows with ``step > keep_until_step``.

        Returns:
            The number of rows kept.
        """
        rows = []
        for line, r in enumerate(self.read_rows(), start=2):
            try:
                step = int(r["step"])
            except (TypeError, ValueError):
                raise ValueError(
                    f"{self.path}: line {line}: step {r.get('step')!r} is not an integer "
                    "(the file was edited or damaged; restore it or remove the line)"
                ) from None
            if step <= keep_until_step:
                rows.append(r)
        lines = [",".join(self.columns)]
        lines += [",".join(_csv_cell(r.get(c, "")) for c in self.columns) for r in rows]
        atomic_write_text(self.path, "\n".join(lines) + "\n")
        self._fh = self.path.open("a", newline="")
        return len(rows)

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        if self._fh is None:
            raise RuntimeError(f"{self.path}: open() must be called before append()")
        for row in rows:
            unknown = set(row) - set(self.columns)
            if unknown:
                raise KeyError(f"{self.path}: unknown columns {sorted(unknown)}")
            self._fh.write(",".join(_csv_cell(_fmt(row.get(c))) for c in self.columns) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _csv_cell(text: str) -> str:
    if any(ch in text for ch in ',"\n'):
        return '"' + text.replace('"', '""') + '"'
    return text
