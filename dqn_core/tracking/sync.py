"""``dqn mlflow-sync RUN_DIR``: make MLflow hold every value of a run directory."""

from __future__ import annotations

import logging
from pathlib import Path

from dqn_core.config import load_run_config
from dqn_core.tracking.csv_metrics import missing_from_csv
from dqn_core.tracking.metric import MAX_METRICS_PER_BATCH
from dqn_core.tracking.mlflow_run import _read_run_file
from dqn_core.tracking.redact import _short, redact
from dqn_core.tracking.sender import PENDING_FILE
from dqn_core.tracking.store import TrackingError, _configure_http_client, default_tracking_uri
from dqn_core.tracking.tracker import Tracker

log = logging.getLogger(__name__)


def sync_from_csv(run_dir: Path, *, uri: str | None = None) -> int:
    """``dqn mlflow-sync RUN_DIR``: make MLflow hold every value of the run directory.

    Sends, in order: what ``mlflow_pending.jsonl`` kept, then every
    ``metrics.csv`` value whose (key, step=frames) MLflow lacks; uploads
    deferred artifacts; applies a final status that could not be set (or
    FINISHED when ``summary.json`` exists). Creates the MLflow run (params,
    tags, config) if the run directory has none in this store. Values MLflow
    already has are left alone, so running it twice sends nothing new.

    Args:
        run_dir: the run directory (needs config.yaml).
        uri: tracking URI; default: the one in ``mlflow_run.json`` when it holds no
            credentials, else :func:`default_tracking_uri`.

    Returns:
        How many metric values were sent.

    Raises:
        TrackingError: MLflow is unreachable or refuses the data.
        ConfigError: ``run_dir/config.yaml`` is missing or invalid.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir / "config.yaml")
    if uri is None:
        saved = _read_run_file(run_dir)
        stored = saved.get("tracking_uri") if saved else None
        uri = stored if stored and "***" not in stored else default_tracking_uri()
    _configure_http_client()
    tracker = Tracker(config, run_dir, uri=uri, enabled=True)
    status = tracker._load_pending()
    from_pending = len(tracker._queue)
    try:
        created = tracker._ensure_run(continue_run=False)
        client, run_id = tracker._get_client(), tracker.run_id
        assert run_id is not None
        queue = list(tracker._queue)
        for i in range(0, len(queue), MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=queue[i : i + MAX_METRICS_PER_BATCH], synchronous=True)
        tracker._queue.clear()
        tracker._send_deferred_artifacts(client, run_id)
        missing = missing_from_csv(client, run_id, run_dir / "metrics.csv")
        for i in range(0, len(missing), MAX_METRICS_PER_BATCH):
            client.log_batch(
                run_id, metrics=missing[i : i + MAX_METRICS_PER_BATCH], synchronous=True
            )
        sent_csv = len(missing)
        run = client.get_run(run_id)
        if status is None and (run_dir / "summary.json").is_file():
            status = "FINISHED"
        elif status is None and created:
            status = "KILLED"  # a run created after the fact did not finish in MLflow's view
        if status is not None and run.info.status != status:
            client.set_terminated(run_id, status=status)
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(f"syncing {run_dir} to {redact(uri)} failed: {_short(exc)}") from None
    (run_dir / PENDING_FILE).unlink(missing_ok=True)
    log.info(
        "MLflow run %s: %d values from %s and %d from metrics.csv sent",
        run_id,
        from_pending,
        PENDING_FILE,
        sent_csv,
    )
    return from_pending + sent_csv
