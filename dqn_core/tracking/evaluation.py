"""``dqn evaluate`` results added to the run's MLflow run, after training."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from dqn_core.tracking.metric import _metric, _now_ms
from dqn_core.tracking.mlflow_run import _read_run_file
from dqn_core.tracking.redact import _short, redact
from dqn_core.tracking.store import _client, _configure_http_client

log = logging.getLogger(__name__)


def log_evaluation(
    run_dir: Path,
    scores: list[float],
    step_frames: int,
    files: list[Path],
    hns: float | None,
) -> bool:
    """Add a ``dqn evaluate`` result to the run's MLflow run (from ``mlflow_run.json``).

    Logs ``evaluate/score_mean``, ``evaluate/score_std``, ``evaluate/episodes`` and,
    as this evaluation is the run's final score where the suite has one,
    ``final/score`` and ``final/hns`` again at ``step_frames`` (MLflow shows the
    latest value of a step), and ``files`` as artifacts. MLflow being away only
    warns: evaluate.csv on disk is the record.

    Returns:
        True when everything was logged.
    """
    run_file = _read_run_file(run_dir)
    if run_file is None:
        return False
    uri = os.environ.get("MLFLOW_TRACKING_URI", "").strip() or str(run_file["tracking_uri"])
    import statistics

    values: dict[str, float] = {
        "evaluate/score_mean": statistics.fmean(scores),
        "evaluate/episodes": float(len(scores)),
        "final/score": statistics.fmean(scores),
    }
    if len(scores) > 1:  # one episode has no spread
        values["evaluate/score_std"] = statistics.pstdev(scores)
    if hns is not None:
        values["final/hns"] = hns
    try:
        _configure_http_client()
        client = _client(uri)
        run_id = str(run_file["run_id"])
        now = _now_ms()
        client.log_batch(
            run_id, metrics=[_metric(k, v, now, int(step_frames)) for k, v in values.items()]
        )
        for f in files:
            client.log_artifact(run_id, str(f))
    except Exception as exc:
        log.warning(
            "the evaluation was not recorded in MLflow run %s (%s): %s",
            run_file.get("run_id"),
            redact(uri),
            _short(exc),
        )
        return False
    return True
