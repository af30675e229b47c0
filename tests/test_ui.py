"""``dqn ui`` and moving a store: real sqlite stores, a real ``mlflow ui`` process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dqn_core.tracking import init_store
from dqn_core.ui import UIError, experiment_links, relocate_store, store_path, ui_command


def make_store(root: Path, suite: str = "smoke") -> str:
    """A results folder with a store, one run and one artifact; returns the run id."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{(root / 'mlflow.db').as_posix()}"
    exp_id = init_store(uri, suite)
    client = MlflowClient(uri)
    run = client.create_run(exp_id, run_name="Pong-nature-s0")
    note = root / "note.txt"
    note.write_text("hello\n")
    client.log_artifact(run.info.run_id, str(note), "files")
    client.set_terminated(run.info.run_id)
    note.unlink()
    return str(run.info.run_id)


def read_artifact(root: Path, run_id: str, dst: Path) -> str:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(root / 'mlflow.db').as_posix()}")
    path = client.download_artifacts(run_id, "files/note.txt", str(dst))
    return Path(path).read_text()


def test_a_copied_results_folder_keeps_its_artifacts(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "results", tmp_path / "elsewhere" / "results"
    a.mkdir(parents=True)
    run_id = make_store(a)
    assert relocate_store(a) == {}  # in its place: nothing to do
    shutil.copytree(a, b)
    shutil.rmtree(tmp_path / "a")
    (tmp_path / "d1").mkdir()
    with pytest.raises(Exception, match=r"note\.txt|No such file|not found|does not exist"):
        read_artifact(b, run_id, tmp_path / "d1")  # still pointing at the old place
    assert relocate_store(b) == {a.resolve().as_posix(): b.resolve().as_posix()}
    (tmp_path / "d2").mkdir()
    assert read_artifact(b, run_id, tmp_path / "d2") == "hello\n"
    assert relocate_store(b) == {}  # idempotent


def test_a_copy_shows_its_own_artifacts_while_the_original_exists(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    run_id = make_store(a)
    shutil.copytree(a, b)
    assert relocate_store(b) == {a.resolve().as_posix(): b.resolve().as_posix()}
    assert relocate_store(a) == {}  # the original is untouched, still in its place
    (b / "mlartifacts" / "smoke" / run_id / "artifacts" / "files" / "note.txt").write_text("b\n")
    (tmp_path / "d").mkdir()
    assert read_artifact(b, run_id, tmp_path / "d") == "b\n"  # the copy's file, not a's
    (tmp_path / "e").mkdir()
    assert read_artifact(a, run_id, tmp_path / "e") == "hello\n"


def test_missing_store_is_named(tmp_path: Path) -> None:
    with pytest.raises(UIError, match="no MLflow store here"):
        store_path(tmp_path)
    from dqn_core.cli import main

    assert main(["ui", str(tmp_path)]) == 1


def test_links_and_command(tmp_path: Path) -> None:
    make_store(tmp_path, "atari100k")
    links = experiment_links(tmp_path, "127.0.0.1", 5123)
    assert len(links) == 1 and links[0][0] == "atari100k"
    assert links[0][1].startswith("http://127.0.0.1:5123/#/experiments/")
    assert links[0][1].endswith("?workflowType=machine_learning")
    cmd = ui_command(tmp_path, "127.0.0.1", 5123)
    assert cmd[cmd.index("--workers") + 1] == "1" and "--port" in cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in out:
                    out.add(k)
                    todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_dqn_ui_serves_the_runs_page_and_stops_every_process(tmp_path: Path) -> None:
    make_store(tmp_path, "smoke")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dqn_core", "ui", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "workflowType=machine_learning" in line:
                break
        link = lines[-1].split(": ", 1)[1].strip() if lines else ""
        assert link.startswith(f"http://127.0.0.1:{port}/#/experiments/"), "".join(lines)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200
        started = _descendants(proc.pid)
        assert started, "mlflow ui runs as a child of dqn ui"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        left = [p for p in started if _alive(p)]
        assert not left, f"processes left running: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
