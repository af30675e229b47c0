"""The never-blocking batched sender, and its pending file.

Metrics are sent by one background thread with ``log_batch`` (<= 1000 values
a call), so ``flush`` costs a list hand-over whatever the server does: a dead
server, a hung one, or a sqlite file locked by other writers never stalls the
loop. (The alternative, sending synchronously with short HTTP timeouts, still
costs up to a timeout per flush while a server hangs, and turns a slow but
healthy server into spurious failures. MLflow's own asynchronous logging,
``log_batch(..., synchronous=False)``, tries a batch once and drops it when
the call fails.) A failed send is logged once as a warning (then at debug
level until it recovers) and retried with exponential back-off (2 s doubling
to 60 s); nothing is dropped. Values are sent with the timestamp they were
logged with, so a batch that reached the server although the client saw an
error is deduplicated by MLflow when re-sent. For HTTP stores the client gets
``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT=5``
unless set already (MLflow's defaults retry for minutes): retries are ours,
and the few synchronous calls (``start``, ``log_artifact``, ``log_model``,
``finish``) give up at the first failing request (one timeout at most), and
do not try while the server is known to be away.

Unsent values wait in memory (about 100 bytes each; a 200M-frame run logs
under 100k values in all). If the process ends while MLflow is away,
``finish`` (or an ``atexit`` hook, should the loop never reach ``finish``)
writes the unsent values, deferred artifacts and the final status to
``run_dir/mlflow_pending.jsonl``; the next ``start`` on that run directory (a
resume) or :func:`~dqn_core.tracking.sync.sync_from_csv` (``dqn mlflow-sync
RUN_DIR``) sends them. Values lost with the memory of a killed process are not
lost for good either: once per process, the sender compares ``metrics.csv``
(which the loop has cut back to the checkpoint on resume) with what MLflow
has, by key and step, and sends the difference.

The thread is started by ``Tracker.start``; fork no child process after that
(the ale-py vector envs use threads, not processes).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from dqn_core.config import RunConfig
from dqn_core.fileio import atomic_write_text
from dqn_core.tracking.csv_metrics import missing_from_csv
from dqn_core.tracking.metric import MAX_METRICS_PER_BATCH, _metric, _now_ms
from dqn_core.tracking.mlflow_run import MlflowRun
from dqn_core.tracking.redact import _short, redact

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

log = logging.getLogger(__name__)

PENDING_FILE = "mlflow_pending.jsonl"


class Sender(MlflowRun):
    """Queues metric values and deferred artifacts; one thread sends them, retrying.

    The base of :class:`~dqn_core.tracking.tracker.Tracker`, which starts and
    stops the thread (:meth:`_worker`).

    Args:
        config, run_dir, uri, device: see :class:`~dqn_core.tracking.mlflow_run.MlflowRun`.
        retry_initial_s: first back-off after a failure (doubles per failure).
        retry_max_s: longest back-off.
    """

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        uri: str,
        device: str | None,
        retry_initial_s: float,
        retry_max_s: float,
    ) -> None:
        super().__init__(config, run_dir, uri, device)
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._buffer: list[Metric] = []  # main thread only
        self._queue: deque[Metric] = deque()  # guarded by self._cond, as is all below
        self._artifacts: list[tuple[str, str | None]] = []
        self._stopping = False
        self._down = False
        self._next_attempt = 0.0
        self._backoff = retry_initial_s
        self._sent = 0
        self._catch_up = True  # fill metrics.csv values MLflow lacks, once per process
        self._send_lock = threading.Lock()  # one sender at a time (worker or finish)

    def flush(self) -> None:
        """Hand buffered values to the sender thread; returns at once."""
        if not self._buffer:
            return
        with self._cond:
            self._queue.extend(self._buffer)
            self._cond.notify_all()
        self._buffer = []

    @property
    def pending(self) -> int:
        """Metric values not yet acknowledged by MLflow."""
        with self._cond:
            return len(self._buffer) + len(self._queue)

    @property
    def reachable(self) -> bool:
        """False while the last contact with MLflow failed."""
        return not self._down

    def _defer_artifact(self, file: Path, artifact_path: str | None) -> None:
        with self._cond:
            if (str(file), artifact_path) not in self._artifacts:
                self._artifacts.append((str(file), artifact_path))

    # ------------------------------------------------------------ sending
    def _attempt(self, deadline: float | None) -> bool:
        """One sending round (caller holds ``_send_lock``); False if it failed."""
        try:
            self._ensure_run(continue_run=True)
            client, run_id = self._get_client(), self.run_id
            assert run_id is not None
            if self._catch_up:
                self._queue_csv_catch_up(client, run_id)
            while True:
                with self._cond:
                    if deadline is None and self._stopping:
                        return True  # finish() takes over
                    chunk = list(itertools.islice(self._queue, MAX_METRICS_PER_BATCH))
                if not chunk:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    log.warning("MLflow is slow: stopped sending after the drain timeout")
                    return False
                client.log_batch(run_id, metrics=chunk, synchronous=True)
                with self._cond:  # only senders pop, one at a time: the head is `chunk`
                    for _ in chunk:
                        self._queue.popleft()
                    self._sent += len(chunk)
                    self._cond.notify_all()
            self._send_deferred_artifacts(client, run_id)
        except Exception as exc:
            self._failed("sending metrics", exc)
            return False
        self._recovered()
        return True

    def _queue_csv_catch_up(self, client: MlflowClient, run_id: str) -> None:
        """Queue what metrics.csv holds and MLflow lacks (values an earlier process
        logged but never sent: killed with a full queue, or a new store)."""
        with self._cond:
            queued = {(m.key, m.step) for m in self._queue}
        missing = missing_from_csv(client, run_id, self.run_dir / "metrics.csv", queued)
        with self._cond:
            self._queue.extend(missing)
            self._catch_up = False
        if missing:
            log.info("%d metrics.csv values missing from MLflow are queued", len(missing))

    def _send_deferred_artifacts(self, client: MlflowClient, run_id: str) -> None:
        while True:
            with self._cond:
                if not self._artifacts:
                    return
                file, artifact_path = self._artifacts[0]
            if Path(file).is_file():
                client.log_artifact(run_id, file, artifact_path)
            else:
                log.warning("deferred MLflow artifact %s no longer exists; skipped", file)
            with self._cond:
                self._artifacts.pop(0)
                self._cond.notify_all()

    def _worker(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    has_work = (
                        bool(self._queue or self._artifacts)
                        or self.run_id is None
                        or not self._params_logged
                        or self._catch_up
                    )
                    wait = self._next_attempt - time.monotonic()
                    if has_work and wait <= 0:
                        break
                    self._cond.wait(wait if has_work else None)
                if self._stopping:
                    return
            with self._send_lock:
                self._attempt(deadline=None)

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._cond:
            first = not self._down
            self._down = True
            delay = self._backoff
            self._next_attempt = time.monotonic() + delay
            self._backoff = min(self._backoff * 2, self.retry_max_s)
            pending = len(self._queue) + len(self._buffer)
        message = (
            "MLflow at %s failed while %s: %s; training continues, %d metric values are "
            "kept and retried (next try in %.1f s)"
        )
        args = (redact(self.uri), what, _short(exc), pending, delay)
        if first:
            log.warning(message, *args)
        else:
            log.debug(message, *args)

    def _recovered(self) -> None:
        with self._cond:
            was_down = self._down
            self._down = False
            self._backoff = self.retry_initial_s
            self._next_attempt = 0.0
            self._cond.notify_all()
        if was_down:
            log.info("MLflow at %s answers again; pending values are being sent", redact(self.uri))

    # ------------------------------------------------------------ pending file
    def _load_pending(self) -> str | None:
        """Queue the pending file's metrics and artifacts; return its status, if any."""
        path = self.run_dir / PENDING_FILE
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            return None
        status = None
        metrics = []
        for n, line in enumerate(lines, 1):
            try:
                item = json.loads(line)
                kind = item["type"]
                if kind == "metric":
                    metrics.append(
                        _metric(
                            str(item["key"]),
                            float(item["value"]),
                            int(item["timestamp"]),
                            int(item["step"]),
                        )
                    )
                elif kind == "artifact":
                    self._defer_artifact(Path(item["path"]), item.get("artifact_path"))
                elif kind == "status":
                    status = str(item["status"])
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("%s line %d is malformed (%s); skipped", path, n, exc)
        with self._cond:
            self._queue.extendleft(reversed(metrics))
        if metrics:
            log.info("%d metric values left unsent by an earlier process are queued", len(metrics))
        return status

    def _write_pending(self, status: str | None) -> None:
        """Persist what was not sent; remove the file when nothing is left."""
        path = self.run_dir / PENDING_FILE
        with self._cond:
            metrics = [*self._queue, *self._buffer]
            artifacts = list(self._artifacts)
        lines = [
            json.dumps(
                {
                    "type": "metric",
                    "key": m.key,
                    "value": m.value,
                    "timestamp": m.timestamp,
                    "step": m.step,
                }
            )
            for m in metrics
        ]
        lines += [
            json.dumps({"type": "artifact", "path": f, "artifact_path": a}) for f, a in artifacts
        ]
        if status is not None:
            lines.append(json.dumps({"type": "status", "status": status, "end_time": _now_ms()}))
        try:
            if not lines:
                path.unlink(missing_ok=True)
                return
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, "\n".join(lines) + "\n")
        except OSError as exc:
            log.error("cannot write %s: %s (metrics.csv still has every value)", path, exc)
            return
        log.warning(
            "MLflow at %s did not get %d metric values and %d artifacts; they are kept in %s "
            "and sent by the next `dqn train` on this run directory or by `dqn mlflow-sync %s`",
            redact(self.uri),
            len(metrics),
            len(artifacts),
            path,
            self.run_dir,
        )
