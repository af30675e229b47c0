"""``dqn ui``: the MLflow UI for a results folder, and moving a store with its folder.

The workflow's store is ``<results>/mlflow.db`` with artifacts under
``<results>/mlartifacts/<suite>/``. MLflow records artifact locations as
absolute paths, so a ``results/`` folder copied to another machine (as after a
cluster run) keeps pointing at the old place. :func:`relocate_store` rewrites
those paths to the folder's new place; ``dqn ui`` calls it before it starts.

:func:`serve` starts ``mlflow ui`` on 127.0.0.1 with one worker and no
background job runner (MLflow 3 starts one by default; its processes outlive
the UI's PID), in a process group of its own, prints the direct link to each
experiment's runs page (``?workflowType=machine_learning``: MLflow 3 otherwise
opens an experiment on its GenAI overview), and stops the whole group on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

#: The tables and columns of MLflow 3's sqlite schema that hold artifact paths.
ARTIFACT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
)


class UIError(RuntimeError):
    """The UI cannot start: no store, a busy port, or MLflow exited."""


def store_path(results_root: Path) -> Path:
    """``<results_root>/mlflow.db``, checked to exist."""
    db = Path(results_root).resolve() / "mlflow.db"
    if not db.is_file():
        raise UIError(
            f"{db}: no MLflow store here; run a suite first (`make smoke`), or pass "
            "the results folder that holds mlflow.db"
        )
    return db


def _old_root(location: str, name: str) -> str | None:
    """The results root an experiment's artifact location was created under."""
    path = location.removeprefix("file://")
    suffix = f"/mlartifacts/{name}"
    return path[: -len(suffix)] if path.endswith(suffix) else None


def relocate_store(results_root: Path) -> dict[str, str]:
    """Point a moved store's artifact paths at ``<results_root>/mlartifacts``.

    An experiment whose artifact location is ``<old>/mlartifacts/<name>`` for
    another folder ``<old>``, while ``<results_root>/mlartifacts/<name>`` exists,
    has every path starting with ``<old>/`` rewritten (experiments, runs, logged
    models, model versions), in one transaction. This holds whether or not
    ``<old>`` still exists: a copy shows its own artifacts, not the original's
    (which may change or go). Nothing changes for a store in its place.

    Returns:
        ``{old root: new root}`` of what was rewritten (empty if nothing moved).
    """
    root = Path(results_root).resolve()
    db = store_path(root)
    new = root.as_posix()
    from dqn_core.tracking.store import _store_lock

    moved: dict[str, str] = {}
    with _store_lock(db), contextlib.closing(sqlite3.connect(db)) as con:
        rows = con.execute("SELECT name, artifact_location FROM experiments").fetchall()
        for name, location in rows:
            old = _old_root(location or "", name)
            if old is None or old == new or Path(old).resolve() == root:
                continue
            if Path(root, "mlartifacts", name).exists():
                moved[old] = new
        if not moved:
            return {}
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        with con:  # one transaction
            for old in moved:
                for table, column in ARTIFACT_COLUMNS:
                    if table not in tables:
                        continue
                    for prefix_old, prefix_new in ((old, new), (f"file://{old}", f"file://{new}")):
                        con.execute(
                            f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                            f"WHERE substr({column}, 1, ?) = ?",
                            (
                                prefix_new + "/",
                                len(prefix_old) + 2,
                                len(prefix_old) + 1,
                                prefix_old + "/",
                            ),
                        )
    for old in moved:
        log.info("store moved: artifact paths under %s now point under %s", old, new)
    return moved


def experiment_links(results_root: Path, host: str, port: int) -> list[tuple[str, str]]:
    """``(experiment name, URL of its runs page)`` for every active experiment with runs."""
    db = store_path(results_root)
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
        rows = con.execute(
            "SELECT e.experiment_id, e.name FROM experiments e "
            "WHERE e.lifecycle_stage = 'active' AND EXISTS "
            "(SELECT 1 FROM runs r WHERE r.experiment_id = e.experiment_id "
            "AND r.lifecycle_stage = 'active') ORDER BY e.experiment_id"
        ).fetchall()
    base = f"http://{host}:{port}"
    return [
        (name, f"{base}/#/experiments/{exp_id}?workflowType=machine_learning")
        for exp_id, name in rows
    ]


def ui_command(results_root: Path, host: str, port: int) -> list[str]:
    """The ``mlflow ui`` command line ``dqn ui`` runs."""
    db = store_path(results_root)
    return [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        f"sqlite:///{db.as_posix()}",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def _port_in_use(host: str, port: int) -> bool:
    """Whether something already answers on ``host:port`` (a connect, not a bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) == 0


def _stop_group(proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    """SIGTERM the UI's process group, SIGKILL what is left after ``timeout_s``."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        proc.poll()
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def serve(
    results_root: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    ready_timeout_s: float = 120.0,
) -> int:
    """Run the MLflow UI for ``results_root`` until Ctrl-C or SIGTERM.

    Returns:
        0 after a signal stopped it; raises UIError if it cannot start or exits.
    """
    store_path(results_root)
    moved = relocate_store(results_root)
    for old, new in moved.items():
        print(f"store moved: artifact paths rewritten from {old} to {new}", flush=True)
    if _port_in_use(host, port):
        raise UIError(f"port {port} on {host} is in use; pass --port")
    from dqn_core.tracking.store import QUIET_MLFLOW_ENV

    env = {**QUIET_MLFLOW_ENV, **os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    proc = subprocess.Popen(ui_command(results_root, host, port), env=env, start_new_session=True)
    try:
        ready = False
        deadline = time.monotonic() + ready_timeout_s
        while not received:
            if proc.poll() is not None:
                raise UIError(f"mlflow ui exited with status {proc.returncode}")
            if not ready:
                try:
                    with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=2) as r:
                        ready = r.status == 200
                except OSError:
                    if time.monotonic() > deadline:
                        raise UIError(
                            f"mlflow ui did not answer on {host}:{port} within "
                            f"{ready_timeout_s:.0f} s"
                        ) from None
                if ready:
                    print(f"MLflow UI for {Path(results_root).resolve()} (Ctrl-C stops it):")
                    for name, url in experiment_links(results_root, host, port):
                        print(f"  {name}: {url}")
                    sys.stdout.flush()
            time.sleep(0.5)
        return 0
    finally:
        _stop_group(proc)
        for s, handler in previous.items():
            signal.signal(s, handler)


__all__ = [
    "ARTIFACT_COLUMNS",
    "UIError",
    "experiment_links",
    "relocate_store",
    "serve",
    "store_path",
    "ui_command",
]
