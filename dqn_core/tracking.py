"""MLflow tracking that never blocks or kills training.

The run directory is the source of truth (``metrics.csv``, ``eval.csv``,
checkpoints); MLflow is a window onto it. This module keeps that window
complete without ever making training wait for it.

Store and experiment (:func:`init_store`, :func:`mlflow_init`)
    A fresh sqlite store opened by several processes at once gets corrupted
    (concurrent schema migrations), so the store and the experiment are created
    under an exclusive ``fcntl`` lock on ``<db>.lock`` next to the sqlite file:
    safe when every job of a fan-out calls it at the same time, and idempotent.
    ``dqn mlflow-init`` runs it once before the fan-out anyway. The experiment's
    artifact location is passed explicitly (sqlite experiments otherwise get a
    path under the creating process's cwd): ``<db dir>/mlartifacts/<experiment>``,
    i.e. ``results/mlartifacts/<suite>`` for the default store. With a tracking
    server the server decides where artifacts go. Other SQL databases get no
    lock: run ``dqn mlflow-init`` before fanning out.

The run (:class:`Tracker`)
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

    ``start`` creates the MLflow run (experiment = suite, name
    ``<game>-<preset>-s<seed>``, tags, flattened config params, config.yaml)
    and records its id in ``run_dir/mlflow_run.json``; a resumed run continues
    the same MLflow run (tag ``resumes``; settings changed on resume, such as
    a longer budget, become ``resumed.<field>`` tags since MLflow params are
    immutable). Metrics use ``step = frames``.

Outages
    Metrics are sent by one background thread with ``log_batch`` (<= 1000
    values a call), so ``flush`` costs a list hand-over whatever the server
    does: a dead server, a hung one, or a sqlite file locked by other writers
    never stalls the loop. (The alternative, sending synchronously with short
    HTTP timeouts, still costs up to a timeout per flush while a server hangs,
    and turns a slow but healthy server into spurious failures.) A failed send
    is logged once as a warning (then at debug level until it recovers) and
    retried with exponential back-off (2 s doubling to 60 s); nothing is
    dropped. Values are sent with the timestamp they were logged with, so a
    batch that reached the server although the client saw an error is
    deduplicated by MLflow when re-sent. For HTTP stores the client gets
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES=0`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT=5``
    unless set already (MLflow's defaults retry for minutes): retries are
    ours, and the few synchronous calls (``start``, ``log_artifact``,
    ``log_model``, ``finish``) give up at the first failing request (one
    timeout at most), and do not try while the server is known to be away.

    Unsent values wait in memory (about 100 bytes each; a 200M-frame run logs
    under 100k values in all). If the process ends while MLflow is away,
    ``finish`` (or an ``atexit`` hook, should the loop never reach ``finish``)
    writes the unsent values, deferred artifacts and the final status to
    ``run_dir/mlflow_pending.jsonl``; the next ``start`` on that run directory
    (a resume) or :func:`sync_from_csv` (``dqn mlflow-sync RUN_DIR``) sends
    them. Values lost with the memory of a killed process are not lost for
    good either: once per process, the sender compares ``metrics.csv`` (which
    the loop has cut back to the checkpoint on resume) with what MLflow has,
    by key and step, and sends the difference; ``sync_from_csv`` does the
    same on demand.

Security
    Tracking URIs may carry credentials (``https://user:token@host``).
    :func:`redact` masks them, and every log message and the URI stored in
    ``mlflow_run.json`` go through it. Params and tags hold only the config,
    versions, the git commit, the device and the run directory.

The sender thread is started by ``start``; fork no child process after that
(the ale-py vector envs use threads, not processes).
"""

from __future__ import annotations

import os

# GitPython (imported by MLflow for source tags) warns loudly when there is no git
# binary, as in slim container images.
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
# MLflow prints "View run ... at: <tracking URI>" when a run ends; that URI may
# carry credentials, and the run directory's logs must never hold them.
os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

import atexit
import contextlib
import copy
import csv
import fcntl
import itertools
import json
import logging
import math
import platform
import re
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqn_core.config import RunConfig, from_dict, load_yaml
from dqn_core.fileio import atomic_write_json, atomic_write_text

if TYPE_CHECKING:  # mlflow is imported lazily: runs with tracking off never pay for it
    import torch
    from mlflow import MlflowClient
    from mlflow.entities import Metric

log = logging.getLogger(__name__)

RUN_FILE = "mlflow_run.json"
PENDING_FILE = "mlflow_pending.jsonl"
STATUSES = ("FINISHED", "FAILED", "KILLED")
#: MLflow's per-request limits (mlflow.utils.validation).
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
#: Packages whose versions are recorded as ``version.<name>`` tags.
VERSIONED_PACKAGES = ("torch", "numpy", "gymnasium", "ale-py", "mlflow", "dqn-harness")
#: Index columns of metrics.csv (everything else is a metric).
CSV_INDEX_COLUMNS = ("step", "frames", "time_s")
_METRIC_NAME_RE = re.compile(r"^[/\w.\- :]+$")
_LOCK_TIMEOUT_S = 120.0


class TrackingError(RuntimeError):
    """The tracking store cannot be initialised or synced (explicit operations only).

    The training-side :class:`Tracker` never raises it: it logs and retries.
    """


# ----------------------------------------------------------------- redaction
_USERINFO_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<secret>[^/\s]*)@"
)
_SECRET_QUERY_RE = re.compile(
    r"(?P<key>[?&;][^=&#\s]*?(?:password|passwd|pwd|token|secret|key|signature|sig|"
    r"credential|auth)[^=&#\s]*=)(?P<value>[^&#\s]*)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Mask credentials in a URI or in any text that contains URIs.

    ``http://user:pass@host`` becomes ``http://user:***@host``; query
    parameters that look secret (``?token=``, ``&password=``, ``sig=``, ...)
    get ``***`` as their value.
    """
    text = _USERINFO_RE.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _SECRET_QUERY_RE.sub(lambda m: f"{m['key']}***", text)


def _short(exc: BaseException) -> str:
    """One redacted line describing ``exc`` (MLflow errors can be pages long)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return redact(text if len(text) <= 300 else text[:297] + "...")


# --------------------------------------------------------------------- store
def default_tracking_uri(results_root: Path = Path("results")) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the sqlite store ``<results_root>/mlflow.db``.

    Args:
        results_root: the results directory (made absolute, so that every job
            of a workflow names the same file whatever its cwd).
    """
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    return f"sqlite:///{(Path(results_root).resolve() / 'mlflow.db').as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores or in-memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = uri[len("sqlite:///") :].split("?", 1)[0]
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


@contextlib.contextmanager
def _store_lock(db: Path | None, timeout_s: float = _LOCK_TIMEOUT_S) -> Iterator[None]:
    """Exclusive lock on ``<db>.lock`` (no-op for non-sqlite stores).

    ``flock`` locks are released by the kernel when the holder dies, so a
    killed process never leaves the store locked.
    """
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    lock_path = db.with_name(db.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TrackingError(
                        f"{lock_path}: still locked by another process after {timeout_s:.0f} s"
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _configure_http_client(timeout_s: int = 5) -> None:
    """Bound MLflow's HTTP calls (only where the user has not chosen values)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout_s)))


def _client(uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def init_store(uri: str, experiment: str, artifact_root: Path | None = None) -> str:
    """Create the tracking store (if new) and the experiment (if missing), once.

    Safe when many processes call it at the same moment on a fresh sqlite store.

    Args:
        uri: tracking URI (sqlite file, database or server).
        experiment: experiment name (the suite).
        artifact_root: directory under which ``<experiment>/`` holds the
            artifacts. Default: ``<sqlite dir>/mlartifacts`` for sqlite stores;
            for other stores the server's default.

    Returns:
        The experiment id.

    Raises:
        ValueError: empty or over-long experiment name.
        TrackingError: the store is unreachable, or the experiment is deleted.
    """
    if not experiment or len(experiment) > 500:
        raise ValueError(f"experiment: expected a name of 1 to 500 characters, got {experiment!r}")
    db = sqlite_path(uri)
    if artifact_root is None and db is not None:
        artifact_root = db.resolve().parent / "mlartifacts"
    location = str(Path(artifact_root).resolve() / experiment) if artifact_root else None
    try:
        from mlflow.exceptions import MlflowException

        if db is not None:
            # Seconds of imports: done before taking the lock, so that N processes
            # starting together wait for each other's database work only.
            import mlflow.store.tracking.sqlalchemy_store  # noqa: F401

        with _store_lock(db):
            client = _client(uri)  # opening a fresh sqlite file creates the schema
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                try:
                    exp_id = client.create_experiment(experiment, artifact_location=location)
                    log.info(
                        "created MLflow experiment %r (id %s) in %s, artifacts in %s",
                        experiment,
                        exp_id,
                        redact(uri),
                        location or "the server's default location",
                    )
                    return str(exp_id)
                except MlflowException as exc:  # another client (of a server) was faster
                    if _error_code(exc) != "RESOURCE_ALREADY_EXISTS":
                        raise
                    exp = client.get_experiment_by_name(experiment)
            if exp is None or exp.lifecycle_stage == "deleted":
                exp_id = exp.experiment_id if exp is not None else "?"
                raise TrackingError(
                    f"MLflow experiment {experiment!r} (id {exp_id}) in {redact(uri)} is "
                    f"deleted; restore it (`mlflow experiments restore --experiment-id "
                    f"{exp_id}`) or remove it for good (`mlflow gc`)"
                )
            return str(exp.experiment_id)
    except TrackingError:
        raise
    except Exception as exc:
        raise TrackingError(
            f"cannot initialise the MLflow store {redact(uri)} / experiment {experiment!r}: "
            f"{_short(exc)}"
        ) from None


def mlflow_init(suite: str, results_root: Path) -> str:
    """``dqn mlflow-init``: create the store and the suite's experiment before a fan-out.

    Args:
        suite: suite name (= experiment).
        results_root: the results directory (holds ``mlflow.db`` unless
            ``MLFLOW_TRACKING_URI`` is set).

    Returns:
        The experiment id.
    """
    _configure_http_client()
    uri = default_tracking_uri(results_root)
    exp_id = init_store(uri, suite)
    log.info("MLflow store %s: experiment %r has id %s", redact(uri), suite, exp_id)
    return exp_id


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


# ---------------------------------------------------------------- run facts
def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> tuple[str, str]:
    """(commit, dirty) of the code that runs: ``("unknown", "unknown")`` outside git.

    ``DQN_GIT_COMMIT`` overrides the lookup (container images have no ``.git``:
    bake the commit in at build time).
    """
    env = os.environ.get("DQN_GIT_COMMIT", "").strip()
    if env:
        return env, "unknown"
    here = Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], here)
    if not commit or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return "unknown", "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no"], here)
    return commit, "unknown" if status is None else str(bool(status)).lower()


def _run_tags(config: RunConfig, run_dir: Path, device: str | None) -> dict[str, str]:
    commit, dirty = git_commit()
    tags = {
        "suite": config.tracking.suite,
        "game": config.env.game,
        "preset": config.preset,
        "seed": str(config.seed),
        "protocol": config.env.protocol,
        "git_commit": commit,
        "git_dirty": dirty,
        "device": device or config.train.device,
        "config_hash": config.config_hash(),
        # Equal for every seed of one configuration: group or filter by it in the UI.
        "config_group": config.group_hash(),
        "run_dir": str(run_dir.resolve()),
        # The run's description in the MLflow UI, with the budget this run really has.
        "mlflow.note.content": _run_note(config),
        "version.python": platform.python_version(),
    }
    tags.update({f"version.{p}": _package_version(p) for p in VERSIONED_PACKAGES})
    if commit != "unknown":
        tags["mlflow.source.git.commit"] = commit  # shown by the MLflow UI
    return {k: v[:MAX_TAG_VALUE_LENGTH] for k, v in tags.items()}


def _run_note(config: RunConfig) -> str:
    """The preset's description and citation, and the budget of this run."""
    steps = config.train.total_steps
    lines = [
        f"Preset `{config.preset}`: {config.description}" if config.description else "",
        f"Citation: {config.citation}" if config.citation else "",
        f"This run: {config.env.game}, seed {config.seed}, protocol {config.env.protocol}, "
        f"{steps:,} agent steps = {config.steps_to_frames(steps):,} frames.",
    ]
    return "\n\n".join(line for line in lines if line)


def _unused_fields(config: RunConfig) -> set[str]:
    """Config fields that this run's switches make irrelevant (not logged as params)."""
    a, r = config.agent, config.replay
    unused = {"description", "citation"}  # prose: the run's note holds them
    if not a.distributional:
        unused |= {"agent.num_atoms", "agent.v_min", "agent.v_max"}
    else:
        unused.add("agent.loss")  # C51 trains on the cross-entropy
    if not a.noisy:
        unused.add("agent.noisy_sigma0")
    else:  # noisy nets explore by their noise: epsilon is 0 throughout
        unused |= {"agent.epsilon_start", "agent.epsilon_end", "agent.epsilon_decay_steps"}
    if a.optimizer == "rmsprop":
        unused.add("agent.adam_betas")
    else:
        unused |= {"agent.rmsprop_alpha", "agent.rmsprop_centered"}
    if a.network == "mlp":
        unused.add("agent.hidden_size")
    else:
        unused.add("agent.mlp_hidden")
    if config.env.protocol == "classic":  # emulator settings of Atari protocols only
        unused |= {
            f"env.{n}"
            for n in (
                "repeat_action_probability",
                "noop_max",
                "terminal_on_life_loss",
                "full_action_space",
                "fire_reset",
                "frame_skip",
            )
        }
    if config.env.backend != "native":
        unused |= {"env.num_threads", "env.thread_affinity_offset"}
    if not r.prioritized:
        unused |= {
            "replay.priority_alpha",
            "replay.priority_beta_start",
            "replay.priority_beta_end",
            "replay.priority_eps",
            "replay.priority_weight_norm",
        }
    return unused


def _resolved_protocol(config: RunConfig) -> dict[str, Any]:
    """The emulator settings the run's protocol resolves to (for env.* fields left None)."""
    from dqn_core.envs import protocol_settings  # envs pulls in the emulator: only when logging

    settings = protocol_settings(config)
    names: tuple[str, ...] = ("max_episode_frames",)
    if config.env.protocol != "classic":
        names += ("repeat_action_probability", "noop_max", "terminal_on_life_loss")
        names += ("full_action_space", "fire_reset")
    return {f"env.{n}": getattr(settings, n) for n in names}


def _params(config: RunConfig) -> dict[str, str]:
    """MLflow params: the resolved config the run used, without the fields it does not use.

    Protocol fields left ``None`` (keep the protocol's value) are logged with the
    value the protocol gives them; config.yaml (an artifact) keeps the file as written.
    """
    out = {}
    resolved = _resolved_protocol(config)
    unused = _unused_fields(config)
    for key, value in config.flatten().items():
        if key in unused:
            continue
        if value is None and key in resolved:
            value = resolved[key]
        text = str(value)
        if len(text) > MAX_PARAM_VALUE_LENGTH:
            log.warning(
                "MLflow param %s is %d characters long; truncated to %d (config.yaml has it all)",
                key,
                len(text),
                MAX_PARAM_VALUE_LENGTH,
            )
            text = text[:MAX_PARAM_VALUE_LENGTH]
        out[key] = text
    return out


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


def _now_ms() -> int:
    return int(time.time() * 1000)


def _metric(key: str, value: float, timestamp: int, step: int) -> Metric:
    from mlflow.entities import Metric

    return Metric(key=key, value=value, timestamp=timestamp, step=step)


# ------------------------------------------------------------------- tracker
class Tracker:
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
        self.config = config
        self.run_dir = Path(run_dir)
        self.enabled = bool(enabled)
        self.uri = uri or default_tracking_uri()
        self.device = device
        self.http_timeout_s = http_timeout_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.drain_timeout_s = drain_timeout_s
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self.resumed = False
        self._client: MlflowClient | None = None
        self._params_logged = False
        self._buffer: list[Metric] = []  # main thread only
        self._cond = threading.Condition()  # guards everything below
        self._queue: deque[Metric] = deque()
        self._artifacts: list[tuple[str, str | None]] = []
        self._stopping = False
        self._down = False
        self._next_attempt = 0.0
        self._backoff = retry_initial_s
        self._sent = 0
        self._catch_up = True  # fill metrics.csv values MLflow lacks, once per process
        self._send_lock = threading.Lock()  # one sender at a time (worker or finish)
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

    def flush(self) -> None:
        """Hand buffered values to the sender thread; returns at once."""
        if not self._buffer:
            return
        with self._cond:
            self._queue.extend(self._buffer)
            self._cond.notify_all()
        self._buffer = []

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

    @property
    def pending(self) -> int:
        """Metric values not yet acknowledged by MLflow."""
        with self._cond:
            return len(self._buffer) + len(self._queue)

    @property
    def reachable(self) -> bool:
        """False while the last contact with MLflow failed."""
        return not self._down

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

    def _defer_artifact(self, file: Path, artifact_path: str | None) -> None:
        with self._cond:
            if (str(file), artifact_path) not in self._artifacts:
                self._artifacts.append((str(file), artifact_path))

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
        import mlflow
        import mlflow.pytorch
        import numpy as np
        import torch

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
        previous_uri = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
        try:
            # Model.log resolves the store and the experiment of the LoggedModel from
            # the fluent API, not from run_id: point both at this run's.
            mlflow.set_tracking_uri(self.uri)
            mlflow.set_experiment(experiment_id=self.experiment_id)
            info = mlflow.pytorch.log_model(
                cpu,
                name=name,
                input_example=example,
                serialization_format="pt2",
                run_id=self.run_id,
                # Explicit requirements: MLflow's inference re-imports the model in
                # a subprocess, which takes seconds to minutes.
                pip_requirements=[
                    f"torch=={torch.__version__.split('+')[0]}",
                    f"numpy=={np.__version__}",
                ],
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
        finally:
            if previous_uri is not None:
                mlflow.set_tracking_uri(previous_uri)
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

    # -------------------------------------------------------------- internals
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
                # The run keeps its experiment even if tracking.suite changed since.
                run_id, exp_id = found
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

    def _atexit(self) -> None:
        """The process exits without finish(): keep unsent values on disk (no network)."""
        if self._finished:
            return
        self._finished = True
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._write_pending(None)


def _valid_metric_name(name: str) -> bool:
    if not name or len(name) > 250 or not _METRIC_NAME_RE.match(name):
        return False
    norm = os.path.normpath(name)
    return norm == name and not name.startswith(("/", ".."))


def _example_batch(module: torch.nn.Module, example: Any) -> Any:
    """A numpy batch of >= 2 rows for ``torch.export`` (dynamic batch dimension)."""
    import numpy as np
    import torch

    if example is not None:
        arr = example.detach().cpu().numpy() if isinstance(example, torch.Tensor) else example
        arr = np.asarray(arr)
        if arr.ndim == 0:
            raise ValueError("input_example: expected a batch of observations, got a scalar")
        # A batch of 1 would make torch.export specialise the batch dimension to 1.
        return np.concatenate([arr, arr]) if len(arr) == 1 else arr
    candidates: list[tuple[torch.dtype, tuple[int, ...]]] = []
    for m in module.modules():
        shape = getattr(m, "obs_shape", None)
        if shape:
            candidates = [(torch.uint8, tuple(shape)), (torch.float32, tuple(shape))]
            break
    else:
        for m in module.modules():
            width = getattr(m, "in_features", None)
            if isinstance(width, int):
                candidates = [(torch.float32, (width,))]
                break
    for dtype, dims in candidates:
        x = torch.zeros((2, *dims), dtype=dtype)
        try:
            with torch.no_grad():
                module(x)
        except Exception:
            continue
        return x.numpy()
    raise ValueError(
        f"cannot infer an input example for {type(module).__name__} (no obs_shape or "
        "in_features attribute that works); pass input_example="
    )


# --------------------------------------------------------------------- sync
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
    config = from_dict(load_yaml(run_dir / "config.yaml"))
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
