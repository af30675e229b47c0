"""Fault injection: real `dqn train` processes meet SIGKILL, SIGTERM, full disks,
an MLflow server that goes away, non-finite losses, bad input and leaked secrets.

Every test here drives the real CLI (``python -m dqn_core``) or the real
``Trainer`` on real ROMs with a tiny budget, injects one fault, and checks what
docs/reliability.md promises: nothing already earned is lost, nothing
half-written is ever loaded, and the error says what went wrong.

This module holds the helpers the test files share: the tiny run settings, a
launcher that sends a process's output to a file (a pipe nobody reads would
block a chatty child), audits of a run directory (checkpoints complete and
verified, metrics.csv and eval.csv continuous, counters consistent), and a TCP
switch that makes a live MLflow server unreachable and reachable again on the
same port without restarting it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dqn_core.config import RunConfig, load_config
from dqn_core.fileio import is_temp_name
from dqn_core.run.checkpoint import MANIFEST_NAME, list_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parents[2]

#: A Nature-DQN run small enough for a test, big enough to exercise every part
#: of the loop: learning from step 200 (an update every 4 steps), a log row every
#: 50 steps, a checkpoint every 200 (~40 MB: a full replay of 2,000 frames plus
#: the RMSprop state), an evaluation every 400 steps and at the end.
FAULT_SETS: tuple[str, ...] = (
    "replay.capacity=2000",
    "train.learning_starts=200",
    "train.batch_size=8",
    "train.log_every_steps=50",
    "train.checkpoint_every_steps=200",
    "eval.every_steps=400",
    "eval.episodes=1",
    "eval.max_steps=100",
    "agent.epsilon_decay_steps=500",
    "agent.target_update_steps=200",
    "train.torch_threads=1",
    "train.device=cpu",
    "tracking.progress=false",
)
LOG_EVERY = 50
CHECKPOINT_EVERY = 200
EVAL_EVERY = 400
LEARNING_STARTS = 200
TRAIN_FREQUENCY = 4  # the nature-dqn preset's replay ratio
FRAME_SKIP = 4

RESUME_RE = re.compile(r"resuming from ckpt-(\d{12})\.pt at step (\d+)")
#: Lines that must never appear in the output of a run that only met the fault
#: under test: a checkpoint was found unusable, or Python gave up with a traceback.
UNEXPECTED = ("skipping checkpoint", "falling back to", "Traceback")


@dataclass(frozen=True)
class RunSpec:
    """One tiny run: its directory, budget, seed and extra ``--set`` items."""

    run_dir: Path
    steps: int
    seed: int = 7
    game: str = "Pong"
    suite: str = "faults"
    mlflow: bool = False
    extra: tuple[str, ...] = ()

    def cli_args(self, *, steps: int | None = None) -> list[str]:
        """Arguments of ``dqn train`` for this run (``steps`` overrides the budget)."""
        args = ["train", "--preset", "nature-dqn", "--game", self.game, "--seed", str(self.seed)]
        args += ["--steps", str(self.steps if steps is None else steps)]
        args += ["--suite", self.suite, "--run-dir", str(self.run_dir)]
        if not self.mlflow:
            args.append("--no-mlflow")
        for item in (*FAULT_SETS, *self.extra):
            args += ["--set", item]
        return args

    def config(self) -> RunConfig:
        """The same run as a RunConfig, for in-process Trainers."""
        sets = [*FAULT_SETS, *self.extra, f"train.total_steps={self.steps}", f"seed={self.seed}"]
        sets += [f"env.game={self.game}", f"tracking.suite={self.suite}"]
        sets.append(f"tracking.mlflow={'true' if self.mlflow else 'false'}")
        return load_config("nature-dqn", sets=sets)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child ``dqn``: this one, no inherited MLflow URI, plus ``extra``."""
    env = {**os.environ, "GIT_PYTHON_REFRESH": "quiet", "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(extra or {})
    return env


@dataclass
class Launched:
    """A child process whose stdout and stderr go to ``log``."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for the exit; a child still alive after ``timeout`` is killed and reported."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"pid {self.pid} still running after {timeout:.0f} s:\n{self.output()[-4000:]}"
            ) from None


def launch(
    args: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> Launched:
    """Start ``[*prefix, python, -m, dqn_core, *args]`` with output to ``log``.

    Args:
        args: ``dqn`` arguments.
        log: file that receives stdout and stderr (truncated).
        env: the child's environment (default: :func:`child_env`).
        prefix: a command that wraps the interpreter (e.g. ``unshare ...``).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [*prefix, sys.executable, "-m", "dqn_core", *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env if env is not None else child_env(),
            cwd=REPO,
        )
    return Launched(proc, log)


def run_dqn(
    args: Sequence[str], log: Path, *, env: dict[str, str] | None = None, timeout: float = 600
) -> tuple[int, str]:
    """Run ``dqn`` to the end; returns (exit status, output)."""
    child = launch(args, log, env=env)
    rc = child.wait(timeout)
    return rc, child.output()


def assert_clean_output(text: str, what: str) -> None:
    """No unusable checkpoint was met and nothing ended in a traceback."""
    for line in UNEXPECTED:
        assert line not in text, f"{what}: unexpected {line!r} in the output:\n{text[-4000:]}"


# ----------------------------------------------------------------- run files
def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def last_logged_step(metrics_csv: Path) -> int:
    """Step of the last complete row of a metrics.csv being appended to (-1: none)."""
    try:
        text = metrics_csv.read_text()
    except FileNotFoundError:
        return -1
    for line in reversed(text.splitlines()[1:] if text.endswith("\n") else text.splitlines()[1:-1]):
        head = line.split(",", 1)[0]
        if head.isdigit():
            return int(head)
    return -1


def expected_updates(step: int) -> int:
    """Learner updates done by ``step`` (one per TRAIN_FREQUENCY steps from LEARNING_STARTS)."""
    if step < LEARNING_STARTS:
        return 0
    return step // TRAIN_FREQUENCY - (LEARNING_STARTS - 1) // TRAIN_FREQUENCY


def check_metrics_continuous(rows: list[dict[str, str]], total: int) -> None:
    """metrics.csv of a finished run: one row per log point, no gap, no duplicate,
    frames = 4 x steps, and counters that only a continuous learner produces."""
    steps = [int(r["step"]) for r in rows]
    assert len(steps) == len(set(steps)), f"duplicate steps in metrics.csv: {steps}"
    assert steps == sorted(steps), f"steps out of order in metrics.csv: {steps}"
    assert steps == list(range(LOG_EVERY, total + 1, LOG_EVERY)), steps
    episodes = -1
    for r in rows:
        step = int(r["step"])
        assert int(r["frames"]) == FRAME_SKIP * step, r
        # An update count off by one would mean a learner state from another step
        # (a stale or half-restored checkpoint), not just a repeated row.
        assert int(r["learn/updates"]) == expected_updates(step), r
        assert int(r["train/episodes"]) >= episodes, f"episode counter went back at {step}"
        episodes = int(r["train/episodes"])


def check_eval_continuous(rows: list[dict[str, str]], total: int, episodes: int = 1) -> None:
    """eval.csv: every scheduled evaluation once, with all its episodes, and no other."""
    expected = sorted({*range(EVAL_EVERY, total + 1, EVAL_EVERY), total})
    by_step: dict[int, list[int]] = {}
    for r in rows:
        assert int(r["frames"]) == FRAME_SKIP * int(r["step"]), r
        by_step.setdefault(int(r["step"]), []).append(int(r["episode"]))
    assert sorted(by_step) == expected, f"evaluations at {sorted(by_step)}, expected {expected}"
    for step, eps in by_step.items():
        assert sorted(eps) == list(range(episodes)), f"evaluation at {step}: episodes {eps}"


@dataclass(frozen=True)
class CheckpointAudit:
    """What a checkpoint directory holds after a fault."""

    steps: tuple[int, ...]  # complete checkpoint files, newest first
    unlisted: tuple[int, ...]  # complete but not in the manifest (killed before its update)
    temps: tuple[str, ...]  # temporary files left by interrupted writers

    @property
    def newest(self) -> int | None:
        return self.steps[0] if self.steps else None


def audit_checkpoints(directory: Path) -> CheckpointAudit:
    """Load every checkpoint file in ``directory`` the way a resume would.

    Each file under a checkpoint name must pass verification (size and sha256
    against the manifest when it is listed) and load with ``weights_only=True``,
    and the step inside must be the step in its name: a half-written file under
    a checkpoint name fails here, whatever the loader's fallback would do.
    """
    steps, unlisted = [], []
    for info in list_checkpoints(directory):
        state = load_checkpoint(info.path)  # raises CheckpointError if incomplete
        assert int(state["step"]) == info.step, f"{info.path}: holds step {state['step']}"
        steps.append(info.step)
        if not info.listed:
            unlisted.append(info.step)
    temps = tuple(sorted(p.name for p in directory.glob(".*") if is_temp_name(p.name)))
    return CheckpointAudit(tuple(steps), tuple(unlisted), temps)


def checkpoint_temps_of(directory: Path, pid: int) -> list[str]:
    """Temporary checkpoint files being written by process ``pid`` (fileio's naming)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    marker = f".pt.tmp-{pid}-"
    return [n for n in names if n.startswith(".ckpt-") and marker in n and is_temp_name(n)]


def check_finished_run(run_dir: Path, total: int) -> dict[str, Any]:
    """Every file of a finished run agrees: summary, metrics, evaluations, checkpoints."""
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == total and summary["frames"] == FRAME_SKIP * total, summary
    assert summary["updates"] == expected_updates(total), summary
    check_metrics_continuous(read_csv(run_dir / "metrics.csv"), total)
    check_eval_continuous(read_csv(run_dir / "eval.csv"), total)
    ckpts = run_dir / "checkpoints"
    audit = audit_checkpoints(ckpts)
    assert audit.newest == total and audit.unlisted == () and audit.temps == (), audit
    manifest = json.loads((ckpts / MANIFEST_NAME).read_text())
    for entry in manifest["checkpoints"]:
        assert entry["meta"]["frames"] == FRAME_SKIP * entry["step"], entry
    return summary


#: metrics.csv columns that are not metrics (everything else goes to MLflow).
CSV_INDEX = ("step", "frames", "time_s")


def assert_mlflow_mirrors_csv(uri: str, run_dir: Path) -> None:
    """Every non-empty metrics.csv cell is MLflow's latest value at step = frames.

    MLflow keeps every value logged at a step; the one that counts is the latest
    by timestamp (a resumed run re-logs the steps after its checkpoint).
    """
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    run_id = json.loads((run_dir / "mlflow_run.json").read_text())["run_id"]
    rows = read_csv(run_dir / "metrics.csv")
    keys = [k for k in rows[0] if k not in CSV_INDEX]
    for key in keys:
        history: dict[int, list[tuple[int, float]]] = {}
        for m in client.get_metric_history(run_id, key):
            history.setdefault(m.step, []).append((m.timestamp, m.value))
        for row in rows:
            if row[key] == "":
                continue
            frames, value = int(row["frames"]), float(row[key])
            assert frames in history, f"MLflow lacks {key} at {frames} frames"
            latest = max(history[frames])[1]
            assert latest == pytest.approx(value), (
                f"MLflow's latest {key} at {frames} frames is {latest}, metrics.csv has {value} "
                f"(all values there: {sorted(history[frames])})"
            )


@dataclass(frozen=True)
class OutageRun:
    """A finished `dqn train` whose MLflow server was unreachable for a while mid-run."""

    spec: RunSpec
    uri: str  # the URI the run was given (with a password in it)
    server: MlflowServer
    rc: int
    output: str
    secrets: tuple[str, ...]  # credentials the process had: none may leak
    down_from_step: int  # last log row before the server went away
    up_at_step: int  # last log row when it came back
    down_s: float


# ------------------------------------------------------------ network faults
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpSwitch:
    """A TCP forwarder on 127.0.0.1 that can be switched off and on.

    Off, the port is closed and every open connection is cut: to a client this
    is exactly a server that stopped (connection refused). On, the same port
    accepts again and forwards to ``target_port``. One thread accepts, two
    threads per connection copy bytes.
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.up()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        """Listen (again) on the same port."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Close the port and cut every connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by down()
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # switched off meanwhile
                    client.close()
                    server.close()
                    return
                self._conns.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([src], [], [], 1.0)
                if not ready:
                    if src.fileno() < 0:
                        return
                    continue
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except (OSError, ValueError):
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns.discard(src)
                self._conns.discard(dst)

    def close(self) -> None:
        self.down()


@contextlib.contextmanager
def stopped(proc: subprocess.Popen[Any]) -> Iterator[None]:
    """Freeze a child with SIGSTOP for the duration of the block (SIGCONT after)."""
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)


def wait_until(predicate: Any, timeout: float, what: str, child: Launched | None = None) -> None:
    """Poll ``predicate()`` every 20 ms until true; fail after ``timeout`` or if ``child`` exits."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if child is not None and child.proc.poll() is not None:
            raise AssertionError(
                f"waiting for {what}: pid {child.pid} exited with {child.proc.returncode}:\n"
                f"{child.output()[-4000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"waiting for {what}: not within {timeout:.0f} s")
        time.sleep(0.02)


def files_containing(root: Path, needles: Sequence[str]) -> list[str]:
    """``"path: needle"`` for every regular file below ``root`` holding a needle (as bytes)."""
    hits = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in data]
    return hits


class MlflowServer:
    """A real ``mlflow server`` on 127.0.0.1 with a sqlite store under ``root``.

    It runs in its own process group (it spawns workers), so :meth:`stop`
    stops the whole tree, as a pre-empted or crashed server would vanish.
    """

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        root.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300) -> None:
        """Start the server and wait until ``/health`` answers."""
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        with (self.root / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(mlflow_bin),
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "1",
                    "--backend-store-uri",
                    f"sqlite:///{self.root / 'server.db'}",
                    "--artifacts-destination",
                    str(self.root / "artifacts"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log_text = (self.root / "server.log").read_text(errors="replace")
                raise AssertionError(f"mlflow server exited:\n{log_text[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise AssertionError(f"mlflow server at {self.url} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        """SIGTERM the server's process group (SIGKILL after 30 s)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None
