"""The tracking store: its URI, its one-time creation under a lock, its clients.

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

Every MLflow client of the package comes from :func:`_client` (or follows
:func:`init_store`), which first sets the process environment MLflow and
GitPython read (:func:`_quiet_mlflow`); importing this package sets nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from dqn_core.tracking.redact import _short, redact

if TYPE_CHECKING:  # mlflow is imported lazily: runs with tracking off never pay for it
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

_LOCK_TIMEOUT_S = 120.0


class TrackingError(RuntimeError):
    """The tracking store cannot be initialised or synced (explicit operations only).

    The training-side :class:`~dqn_core.tracking.tracker.Tracker` never raises it: it logs and retries.
    """


#: Environment defaults for MLflow and GitPython, set by :func:`_quiet_mlflow`
#: (where the user has not chosen values) and given to the ``mlflow ui`` process.
QUIET_MLFLOW_ENV = {
    # GitPython (imported by MLflow for source tags) warns loudly when there is no
    # git binary, as in slim container images.
    "GIT_PYTHON_REFRESH": "quiet",
    # MLflow prints "View run ... at: <tracking URI>" when a run ends; that URI may
    # carry credentials, and the run directory's logs must never hold them.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}


def _quiet_mlflow() -> None:
    """Set :data:`QUIET_MLFLOW_ENV` in ``os.environ`` (unless set), before MLflow is used."""
    for key, value in QUIET_MLFLOW_ENV.items():
        os.environ.setdefault(key, value)


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
    _quiet_mlflow()
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
    _quiet_mlflow()
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
