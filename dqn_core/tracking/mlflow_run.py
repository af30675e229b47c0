"""The MLflow run of a run directory: created once, continued on resume.

``Tracker.start`` creates the MLflow run (experiment = suite, name
``<game>-<preset>-s<seed>``, tags, flattened config params, config.yaml) and
records its id in ``run_dir/mlflow_run.json``; a resumed run continues the same
MLflow run (tag ``resumes``; settings changed on resume, such as a longer
budget, become ``resumed.<field>`` tags since MLflow params are immutable).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqn_core.config import RunConfig
from dqn_core.fileio import atomic_write_json
from dqn_core.tracking.records import MAX_TAG_VALUE_LENGTH, _params, _run_tags
from dqn_core.tracking.redact import redact
from dqn_core.tracking.store import _client, _error_code, init_store

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

RUN_FILE = "mlflow_run.json"

#: MLflow's per-request limit (mlflow.utils.validation).
MAX_PARAMS_PER_BATCH = 100


def _read_run_file(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / RUN_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s is unreadable (%s); a new MLflow run will be created", path, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
        log.warning("%s has no run id; a new MLflow run will be created", path)
        return None
    return data


class MlflowRun:
    """Finds or creates the MLflow run of ``run_dir``, and logs its params and config once.

    The base of :class:`~dqn_core.tracking.sender.Sender` and
    :class:`~dqn_core.tracking.tracker.Tracker`; every method raises when MLflow
    fails (the sender catches and retries).

    Args:
        config: the run's config (experiment = ``tracking.suite``).
        run_dir: the run directory (holds ``mlflow_run.json``).
        uri: tracking URI.
        device: the resolved torch device, for the ``device`` tag.
    """

    def __init__(self, config: RunConfig, run_dir: Path, uri: str, device: str | None) -> None:
        self.config = config
        self.run_dir = Path(run_dir)
        self.uri = uri
        self.device = device
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.resumed = False
        self._client: MlflowClient | None = None
        self._params_logged = False
        self._cond = threading.Condition()  # guards run_id and the sender's state

    def _get_client(self) -> MlflowClient:
        if self._client is None:
            self._client = _client(self.uri)
        return self._client

    def _ensure_run(self, *, continue_run: bool) -> bool:
        """Create or find the MLflow run; log params/config once. Raises on failure.

        Args:
            continue_run: mark a found run RUNNING again (a resume), as opposed to
                a sync, which leaves its status alone.

        Returns:
            True if a new run was created.
        """
        created = False
        if self.run_id is None:
            exp_id = init_store(self.uri, self.config.tracking.suite)
            client = self._get_client()
            found = self._find_run(client, continue_run=continue_run)
            if found is not None:
                # The run keeps its experiment even if tracking.suite changed since
                # (MLflow cannot move a run): say where it is, e.g. a run started by
                # hand (experiment 'adhoc') and resumed by a suite's workflow.
                run_id, found_exp = found
                if found_exp != exp_id:
                    log.warning(
                        "MLflow run %s (%s) stays in experiment %r, where it started, "
                        "not in this run's %r",
                        run_id,
                        self.config.run_name,
                        client.get_experiment(found_exp).name,
                        self.config.tracking.suite,
                    )
                exp_id = found_exp
            else:
                run = client.create_run(
                    exp_id,
                    run_name=self.config.run_name,
                    tags=_run_tags(self.config, self.run_dir, self.device),
                )
                run_id = run.info.run_id
                created = True
                self._params_logged = False
                self._write_run_file(run_id, exp_id)
                log.info(
                    "MLflow run %s (%s) in experiment %r at %s",
                    run_id,
                    self.config.run_name,
                    self.config.tracking.suite,
                    redact(self.uri),
                )
            with self._cond:
                self.run_id, self.experiment_id = run_id, exp_id
        if not self._params_logged:
            self._log_params_and_config()
        return created

    def _find_run(self, client: MlflowClient, *, continue_run: bool) -> tuple[str, str] | None:
        """(run id, experiment id) of the run named in ``mlflow_run.json``, if usable."""
        saved = _read_run_file(self.run_dir)
        if saved is None:
            return None
        if saved.get("tracking_uri") != redact(self.uri):
            log.warning(
                "%s names MLflow run %s in %s, but this process logs to %s: starting a new "
                "MLflow run there (`dqn mlflow-sync %s` copies metrics.csv into it)",
                self.run_dir / RUN_FILE,
                saved["run_id"],
                saved.get("tracking_uri"),
                redact(self.uri),
                self.run_dir,
            )
            return None
        from mlflow.exceptions import MlflowException

        try:
            run = client.get_run(saved["run_id"])
        except MlflowException as exc:
            if _error_code(exc) != "RESOURCE_DOES_NOT_EXIST":
                raise  # unreachable store: retry later, never fork a second run
            run = None
        if run is None or run.info.lifecycle_stage == "deleted":
            log.warning(
                "MLflow run %s (from %s) is gone from %s; starting a new run",
                saved["run_id"],
                self.run_dir / RUN_FILE,
                redact(self.uri),
            )
            return None
        run_id = str(run.info.run_id)
        self._params_logged = bool(saved.get("params_logged", False))
        if continue_run:
            from mlflow.entities import RunTag

            client.update_run(run_id, status="RUNNING")
            resumes = int(run.data.tags.get("resumes", "0") or 0) + 1
            tags = [RunTag("resumes", str(resumes))]
            # MLflow params cannot change; settings that may change on resume (a longer
            # budget, another device) are recorded as tags instead.
            logged = run.data.params
            for key, value in _params(self.config).items():
                if key in logged and logged[key] != value:
                    tags.append(RunTag(f"resumed.{key}", value[:MAX_TAG_VALUE_LENGTH]))
            client.log_batch(run_id, tags=tags, synchronous=True)
            self.resumed = True
            log.info("continuing MLflow run %s (%s)", run_id, self.config.run_name)
        return run_id, str(run.info.experiment_id)

    def _write_run_file(self, run_id: str, exp_id: str) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.run_dir / RUN_FILE,
            {
                "run_id": run_id,
                "experiment_id": exp_id,
                "experiment": self.config.tracking.suite,
                "run_name": self.config.run_name,
                "tracking_uri": redact(self.uri),
                "params_logged": self._params_logged,
                "written": datetime.now(UTC).isoformat(timespec="seconds"),
            },
        )

    def _log_params_and_config(self) -> None:
        from mlflow.entities import Param

        client, run_id = self._get_client(), self.run_id
        assert run_id is not None and self.experiment_id is not None
        params = [Param(k, v) for k, v in _params(self.config).items()]
        for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=params[i : i + MAX_PARAMS_PER_BATCH], synchronous=True)
        cfg_file = self.run_dir / "config.yaml"
        if cfg_file.is_file():
            client.log_artifact(run_id, str(cfg_file))
        else:
            client.log_text(run_id, self.config.to_yaml(), "config.yaml")
        self._params_logged = True
        self._write_run_file(run_id, self.experiment_id)
