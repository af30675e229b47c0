"""metrics.csv against MLflow: the values the run's MLflow run lacks or holds stale.

The sender queues them once per process (values a killed process never sent);
``dqn mlflow-sync`` sends them on demand.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from dqn_core.run.runlog import INDEX_COLUMNS
from dqn_core.tracking.metric import _metric, _now_ms
from dqn_core.tracking.store import TrackingError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

log = logging.getLogger(__name__)

#: Index columns of metrics.csv (everything else is a metric).
#: metrics.csv columns that index a row (MLflow's step and timestamp); the rest are metrics.
CSV_INDEX_COLUMNS = INDEX_COLUMNS


def _csv_metrics(path: Path, start_time_ms: int) -> dict[tuple[str, int], tuple[float, int]]:
    """(key, frames) -> (value, timestamp) of every non-empty metric cell of metrics.csv.

    ``time_s`` (training seconds since the run began, summed over resumes) gives
    the timestamp relative to the MLflow run's start; the last row wins for a
    (key, frames) that occurs twice.
    """
    out: dict[tuple[str, int], tuple[float, int]] = {}
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "frames" not in reader.fieldnames:
            raise TrackingError(f"{path}: no 'frames' column (not a dqn-harness metrics.csv)")
        keys = [k for k in reader.fieldnames if k not in CSV_INDEX_COLUMNS]
        for line, row in enumerate(reader, 2):
            try:
                frames = int(row["frames"])
                elapsed = float(row.get("time_s") or 0.0)
            except (TypeError, ValueError):
                log.warning("%s line %d: unreadable frames/time_s; row skipped", path, line)
                continue
            timestamp = start_time_ms + int(elapsed * 1000) if math.isfinite(elapsed) else 0
            for key in keys:
                cell = (row.get(key) or "").strip()
                if not cell:
                    continue
                try:
                    value = float(cell)
                except ValueError:
                    log.warning("%s line %d: %s=%r is not a number; skipped", path, line, key, cell)
                    continue
                out[(key, frames)] = (value, max(timestamp, 0))
    return out


def missing_from_csv(
    client: MlflowClient,
    run_id: str,
    csv_path: Path,
    exclude: set[tuple[str, int]] | frozenset[tuple[str, int]] = frozenset(),
) -> list[Metric]:
    """``metrics.csv`` values that the MLflow run lacks or holds stale.

    A (key, step=frames) is missing when MLflow has no value at that step; it is
    stale when MLflow's latest value there (by timestamp) differs from the CSV,
    which happens when a killed run logged a step, resumed from an earlier
    checkpoint and regenerated that step: the CSV value is then re-sent with a
    timestamp after the stale one, so it becomes the latest.

    Args:
        client: client of the run's store.
        run_id: the MLflow run.
        csv_path: the run's metrics.csv (missing: nothing is missing).
        exclude: (key, step) pairs already on their way (queued), left out.
    """
    if not csv_path.is_file():
        return []
    start_ms = int(client.get_run(run_id).info.start_time or _now_ms())
    values = _csv_metrics(csv_path, start_ms)
    have: dict[str, dict[int, tuple[int, float]]] = {}
    for key in {k for k, _ in values}:
        latest: dict[int, tuple[int, float]] = {}
        for m in client.get_metric_history(run_id, key):
            if m.step not in latest or m.timestamp >= latest[m.step][0]:
                latest[m.step] = (m.timestamp, m.value)
        have[key] = latest
    out = []
    for (key, frames), (value, timestamp) in sorted(values.items()):
        if (key, frames) in exclude:
            continue
        current = have[key].get(frames)
        if current is None:
            out.append(_metric(key, value, timestamp, frames))
        elif not math.isclose(current[1], value, rel_tol=1e-9, abs_tol=1e-12):
            out.append(_metric(key, value, max(timestamp, current[0] + 1), frames))
    return out
