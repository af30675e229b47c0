"""The training loop's MLflow adapter: :class:`Tracker`.

The training loop calls::

    tracker = Tracker(config, run_dir, uri=uri, enabled=config.tracking.mlflow)
    tracker.start()                       # create, or continue after a resume
    ...
    tracker.log_metrics({...}, step_frames=frames)   # buffer (no I/O)
    tracker.flush()                       # at log points: hand over, returns at once
    ...
    tracker.log_artifact(path)            # small files (eval.csv, ...)
    tracker.log_model(net, "policy")      # final policy as an MLflow model
    tracker.finish("FINISHED" | "FAILED" | "KILLED")  # in a finally block

Metrics use ``step = frames``. Run creation is in
:mod:`~dqn_core.tracking.mlflow_run`, sending and the pending file in
:mod:`~dqn_core.tracking.sender`.
"""

from __future__ import annotations

import atexit
import copy
import logging
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqn_core.config import RunConfig
from dqn_core.tracking.metric import _metric, _now_ms, _valid_metric_name
from dqn_core.tracking.model import _example_batch, _log_pt2_model
from dqn_core.tracking.redact import _short
from dqn_core.tracking.sender import Sender
from dqn_core.tracking.store import _configure_http_client, default_tracking_uri

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

STATUSES = ("FINISHED", "FAILED", "KILLED")


class Tracker(Sender):
    """The training loop's MLflow adapter: one MLflow run per run directory.

    Args:
        config: the run's config (experiment = ``tracking.suite``).
        run_dir: the run directory (holds ``mlflow_run.json`` and the pending file).
        uri: tracking URI; None: :func:`default_tracking_uri` (``./results``).
        enabled: False makes every method a no-op (``tracking.mlflow: false``).
        device: the resolved torch device, for the ``device`` tag
            (default: ``train.device`` as configured, e.g. ``auto``).
        http_timeout_s: seconds an HTTP call may wait for the server; sets
            ``MLFLOW_HTTP_REQUEST_TIMEOUT`` for the process unless already set.
        retry_initial_s: first back-off after a failure (doubles per failure).
        retry_max_s: longest back-off.
        drain_timeout_s: how long :meth:`finish` may spend sending what is left.
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        *,
        uri: str | None = None,
        enabled: bool = True,
        device: str | None = None,
        http_timeout_s: int = 5,
        retry_initial_s: float = 2.0,
        retry_max_s: float = 60.0,
        drain_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(
            config, run_dir, uri or default_tracking_uri(), device, retry_initial_s, retry_max_s
        )
        self.enabled = bool(enabled)
        self.http_timeout_s = http_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self._thread: threading.Thread | None = None
        self._started = False
        self._finished = False

    # ------------------------------------------------------------ lifecycle
    def start(self) -> str | None:
        """Create the MLflow run, or continue the one in ``run_dir/mlflow_run.json``.

        Also queues what an earlier process left in ``mlflow_pending.jsonl``.

        Returns:
            The MLflow run id, or None when tracking is off or the store is
            unreachable right now (the run is then created in the background as
            soon as it answers).
        """
        if not self.enabled:
            return None
        if self._started:
            return self.run_id
        self._started = True
        _configure_http_client(self.http_timeout_s)
        self._load_pending()
        with self._send_lock:
            try:
                self._ensure_run(continue_run=True)
            except Exception as exc:
                self._failed("starting the MLflow run", exc)
            else:
                self._recovered()
        self._thread = threading.Thread(target=self._worker, name="dqn-mlflow", daemon=True)
        self._thread.start()
        atexit.register(self._atexit)
        return self.run_id

    def finish(self, status: str = "FINISHED") -> None:
        """Send what is left (bounded by ``drain_timeout_s``), set the run's status.

        Whatever cannot be sent is written to ``run_dir/mlflow_pending.jsonl``.
        Safe to call more than once, and without :meth:`start`.

        Args:
            status: FINISHED, FAILED or KILLED.
        """
        if status not in STATUSES:
            raise ValueError(f"status: {status!r} is not one of {', '.join(STATUSES)}")
        if not self.enabled or not self._started or self._finished:
            return
        self._finished = True
        self.flush()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.http_timeout_s + 2.0)
        terminated = False
        # If the worker is stuck in a call, leave it: what it sends is also kept in
        # the pending file, and MLflow deduplicates identical values on re-send.
        if self._send_lock.acquire(timeout=1.0):
            try:
                done = self._attempt(deadline=time.monotonic() + self.drain_timeout_s)
                if done and self.run_id is not None and self._client is not None:
                    try:
                        self._client.set_terminated(self.run_id, status=status)
                        terminated = True
                    except Exception as exc:
                        self._failed(f"setting the run status to {status}", exc)
            finally:
                self._send_lock.release()
        self._write_pending(None if terminated else status)
        atexit.unregister(self._atexit)

    # -------------------------------------------------------------- metrics
    def log_metrics(self, metrics: Mapping[str, float], step_frames: int) -> None:
        """Buffer metric values at ``step = step_frames`` (no I/O; see :meth:`flush`).

        Args:
            metrics: name -> value (floats, ints, numpy or 0-d torch scalars).
            step_frames: emulator frames so far (the MLflow step).

        Raises:
            ValueError: an invalid metric name or a non-numeric value (a bug in the
                caller, reported at once rather than by a failing upload later).
        """
        if not self.enabled:
            return
        if isinstance(step_frames, bool) or int(step_frames) != step_frames or step_frames < 0:
            raise ValueError(f"step_frames: expected a non-negative integer, got {step_frames!r}")
        if self._finished:
            log.warning("Tracker.log_metrics after finish(): %d values not sent", len(metrics))
            return
        timestamp = _now_ms()
        for key, value in metrics.items():
            if not isinstance(key, str) or not _valid_metric_name(key):
                raise ValueError(
                    f"metric name {key!r}: use letters, digits and _ - . / : or spaces "
                    "(at most 250 characters, no leading / or ..)"
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"metric {key}: expected a number, got {value!r}") from None
            self._buffer.append(_metric(key, number, timestamp, int(step_frames)))

    def drain(self, timeout_s: float) -> bool:
        """Flush and wait until everything queued has reached MLflow.

        For tests and tools; the training loop does not need it.

        Returns:
            True when nothing is pending, False when ``timeout_s`` ran out.
        """
        self.flush()
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while (
                self._queue
                or self._artifacts
                or (self.enabled and (self.run_id is None or self._catch_up))
            ):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._started:
                    return False
                self._cond.wait(min(remaining, 0.1))
            return True

    # ------------------------------------------------------------ artifacts
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> bool:
        """Upload a file to the run's artifacts (or defer it while MLflow is away).

        Deferred files are uploaded when MLflow answers again, by the next start,
        or by ``dqn mlflow-sync``, if they still exist then. Large files are
        copied synchronously: prefer small ones (the run directory keeps the rest).

        Returns:
            True if uploaded now.
        """
        if not self.enabled or not self._started:
            return False
        file = Path(path).resolve()
        if not file.is_file():
            log.warning("not logging %s to MLflow: no such file", file)
            return False
        if self.run_id is None or self._down or self._client is None:
            self._defer_artifact(file, artifact_path)
            return False
        try:
            self._client.log_artifact(self.run_id, str(file), artifact_path)
        except Exception as exc:
            self._failed(f"uploading {file.name}", exc)
            self._defer_artifact(file, artifact_path)
            return False
        return True

    def log_model(
        self,
        module: torch.nn.Module,
        name: str = "policy",
        *,
        input_example: Any = None,
        metrics: Mapping[str, float] | None = None,
        step_frames: int = 0,
    ) -> str | None:
        """Log a network as an MLflow model (``pt2`` format: no pickle on load).

        The module is copied to the CPU in eval mode and exported with
        ``torch.export`` through ``mlflow.pytorch.log_model``; the batch dimension
        stays dynamic. Load it back with ``mlflow.pytorch.load_model(uri)``. If the
        network cannot be exported, its ``state_dict`` is logged instead as the
        artifact ``<name>/state_dict.pt`` (loadable with ``weights_only=True``).

        Args:
            module: the network (any device; it is not modified).
            name: model name.
            input_example: a batch of observations (numpy or tensor). Default:
                zeros shaped like the module's ``obs_shape`` (uint8 pixels if the
                network accepts them, else float32) or its first layer's
                ``in_features``.
            metrics: values (e.g. the final score) logged once, at ``step_frames``,
                on the run and, when the model was logged, on the model too (so the
                models page shows them). Without a model they go through
                :meth:`log_metrics` (buffered, retried).
            step_frames: the MLflow step of ``metrics``.

        Returns:
            The model URI, or None when nothing was logged (tracking off or away).
        """
        if not self.enabled or not self._started:
            return None
        if self.run_id is None or self._down or self._client is None:
            log.warning("MLflow is unreachable: the %s model was not logged", name)
            if metrics:
                self.log_metrics(metrics, step_frames)
            return None
        if metrics:
            # Checked now: a bad name is the caller's bug, whatever happens to the model.
            for key in metrics:
                if not _valid_metric_name(key):
                    raise ValueError(f"metric name {key!r}: not a valid MLflow metric name")
        cpu = copy.deepcopy(module).to("cpu").eval()
        try:
            example = _example_batch(cpu, input_example)
        except ValueError as exc:
            log.warning("%s; logging the %s state_dict instead of a model", exc, name)
            if metrics:
                self.log_metrics(metrics, step_frames)
            return self._log_state_dict(cpu, name)
        try:
            info = _log_pt2_model(
                cpu,
                name,
                example,
                uri=self.uri,
                experiment_id=self.experiment_id,
                run_id=self.run_id,
            )
        except Exception as exc:
            log.warning(
                "logging the %s model in pt2 format failed (%s); logging its state_dict",
                name,
                _short(exc),
            )
            if metrics:
                self.log_metrics(metrics, step_frames)
            return self._log_state_dict(cpu, name)
        if metrics:
            from mlflow.entities import Metric

            timestamp = _now_ms()
            batch = [
                Metric(k, float(v), timestamp, int(step_frames), model_id=info.model_id)
                for k, v in metrics.items()
            ]
            try:
                self._client.log_batch(self.run_id, metrics=batch)
            except Exception as exc:
                self._failed("logging the model's metrics", exc)
                self.log_metrics(metrics, step_frames)
        return str(info.model_uri)

    def _log_state_dict(self, module: torch.nn.Module, name: str) -> str | None:
        import torch

        assert self._client is not None and self.run_id is not None
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "state_dict.pt"
            torch.save(module.state_dict(), path)
            try:
                self._client.log_artifact(self.run_id, str(path), name)
            except Exception as exc:
                self._failed(f"uploading the {name} state_dict", exc)
                return None
        return f"runs:/{self.run_id}/{name}/state_dict.pt"

    def _atexit(self) -> None:
        """The process exits without finish(): keep unsent values on disk (no network)."""
        if self._finished:
            return
        self._finished = True
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._write_pending(None)
