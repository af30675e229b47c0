"""MLflow tracking on real stores: init under concurrency, resume, outages, sync, redaction."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import ale_py.roms
import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (imported once, before forks)
import pytest
import torch
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from dqn_core.config import RunConfig, TrackingConfig
from dqn_core.provenance import cpu_description
from dqn_core.tracking import (
    PENDING_FILE,
    RUN_FILE,
    Tracker,
    TrackingError,
    default_tracking_uri,
    init_store,
    mlflow_init,
    redact,
    sqlite_path,
    sync_from_csv,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
SUITE = "unit"


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty sqlite store (creating one takes ~8 s; copying it, ms)."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def uri(tmp_path: Path, template_db: Path) -> str:
    db = tmp_path / "results" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(template_db, db)
    return f"sqlite:///{db}"


@pytest.fixture(autouse=True)
def _http_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tracker sets these process-wide when unset; pin them so tests do not leak.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def make_config(seed: int = 0, suite: str = SUITE) -> RunConfig:
    return RunConfig(seed=seed, tracking=TrackingConfig(suite=suite))


def make_run_dir(path: Path, config: RunConfig) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(config.to_yaml())
    return path


def fast_tracker(config: RunConfig, run_dir: Path, uri: str, **kw: Any) -> Tracker:
    kw.setdefault("retry_initial_s", 0.05)
    kw.setdefault("retry_max_s", 0.2)
    kw.setdefault("drain_timeout_s", 5.0)
    return Tracker(config, run_dir, uri=uri, enabled=True, device="cpu", **kw)


def history(uri: str, run_id: str, key: str) -> dict[int, float]:
    return {m.step: m.value for m in MlflowClient(uri).get_metric_history(run_id, key)}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "GIT_PYTHON_REFRESH": "quiet"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


# ----------------------------------------------------------------- redaction
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("http://user:pass@host:5000", "http://user:***@host:5000"),
        (
            "https://bob:p@ss:w0rd@mlflow.example.org/path",
            "https://bob:***@mlflow.example.org/path",
        ),
        ("postgresql://app:hunter2@db/mlflow", "postgresql://app:***@db/mlflow"),
        ("https://h/api?token=abc123&x=1", "https://h/api?token=***&x=1"),
        (
            "https://h/p?X-Amz-Signature=f00&access_key=k&a=b",
            "https://h/p?X-Amz-Signature=***&access_key=***&a=b",
        ),
        ("sqlite:////abs/results/mlflow.db", "sqlite:////abs/results/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://user@host/x", "https://user@host/x"),
        (
            "API request to http://u:secret@h:1/api failed; retry http://v:other@h:2",
            "API request to http://u:***@h:1/api failed; retry http://v:***@h:2",
        ),
    ],
)
def test_redact_masks_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


# --------------------------------------------------------------------- store
def test_default_tracking_uri(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert default_tracking_uri() == f"sqlite:///{tmp_path}/results/mlflow.db"
    assert default_tracking_uri(Path("out")) == f"sqlite:///{tmp_path}/out/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    assert default_tracking_uri(Path("out")) == "http://tracking:5000"


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:////abs/m.db") == Path("/abs/m.db")
    assert sqlite_path("sqlite:///rel/m.db?timeout=5") == Path("rel/m.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("http://host") is None


_QUIET_ENV_CHECK = textwrap.dedent(
    """
    import os, sys
    import dqn_core.tracking
    from dqn_core.tracking.store import QUIET_MLFLOW_ENV, _client
    assert not set(QUIET_MLFLOW_ENV) & set(os.environ), "set by the import"
    assert "mlflow" not in sys.modules, "mlflow imported by the import"
    _client(sys.argv[1])
    assert {k: os.environ[k] for k in QUIET_MLFLOW_ENV} == QUIET_MLFLOW_ENV
    import git  # no git binary: GitPython stays quiet instead of raising ImportError
    """
)


def test_importing_tracking_sets_nothing_and_the_first_client_quiets_mlflow(uri: str) -> None:
    env = subprocess_env()
    for key in ("GIT_PYTHON_REFRESH", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"):
        env.pop(key, None)
    env["GIT_PYTHON_GIT_EXECUTABLE"] = "/nonexistent/git"
    proc = subprocess.run(
        [sys.executable, "-c", _QUIET_ENV_CHECK, uri],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_init_store_is_idempotent_and_places_artifacts_under_results(uri: str) -> None:
    first = init_store(uri, "atari5")
    assert init_store(uri, "atari5") == first
    assert init_store(uri, "atari100k") != first
    exp = MlflowClient(uri).get_experiment(first)
    db = sqlite_path(uri)
    assert db is not None
    assert exp.artifact_location == str(db.parent / "mlartifacts" / "atari5")
    assert (db.parent / "mlflow.db.lock").exists()  # the lock lives next to the store


def test_init_store_refuses_a_deleted_experiment_with_a_hint(uri: str) -> None:
    exp_id = init_store(uri, "gone")
    MlflowClient(uri).delete_experiment(exp_id)
    with pytest.raises(TrackingError, match=r"deleted; restore it .*experiments restore"):
        init_store(uri, "gone")


def test_init_store_reports_an_unreachable_server_with_redacted_uri() -> None:
    bad = f"http://admin:topsecret@127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    with pytest.raises(TrackingError) as info:
        init_store(bad, SUITE)
    assert time.monotonic() - t0 < 5
    assert "topsecret" not in str(info.value) and "admin:***@" in str(info.value)


def test_mlflow_init_creates_the_store_under_the_results_root(
    tmp_path: Path, template_db: Path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(template_db, results / "mlflow.db")
    exp_id = mlflow_init("smoke", results)
    assert mlflow_init("smoke", results) == exp_id
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    assert client.get_experiment_by_name("smoke").experiment_id == exp_id


def _in_processes(target: Any, args: list[tuple[Any, ...]], timeout_s: float = 300) -> list[Any]:
    """Run ``target(*a)`` in one forked process per ``a``, all released at once.

    Forking a parent that has imported MLflow already saves each child seconds of
    imports, so the processes really hit the store at the same moment; a barrier
    makes sure of it. Returns the children's return values; re-raises failures.
    """
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(args))
    results = ctx.Queue()

    def child(i: int, a: tuple[Any, ...]) -> None:
        try:
            barrier.wait(timeout=60)
            results.put((i, True, target(*a)))
        except BaseException:
            results.put((i, False, traceback.format_exc()))

    procs = [ctx.Process(target=child, args=(i, a)) for i, a in enumerate(args)]
    for p in procs:
        p.start()
    out = dict.fromkeys(range(len(args)))
    try:
        for _ in procs:
            i, ok, value = results.get(timeout=timeout_s)
            assert ok, f"process {i} failed:\n{value}"
            out[i] = value
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return [out[i] for i in range(len(args))]


def test_concurrent_init_store_on_a_fresh_sqlite_store(tmp_path: Path) -> None:
    """8 processes at once on a store that does not exist yet: one schema, one experiment."""
    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    ids = _in_processes(init_store, [(uri, "race")] * 8)
    assert len(set(ids)) == 1
    names = [e.name for e in MlflowClient(uri).search_experiments()]
    assert names.count("race") == 1


# ------------------------------------------------------------------- tracker
def test_tracker_records_a_run_with_tags_params_config_and_metrics(
    tmp_path: Path, uri: str
) -> None:
    config = make_config(seed=7)
    run_dir = make_run_dir(tmp_path / "run", config)
    tracker = fast_tracker(config, run_dir, uri)
    run_id = tracker.start()
    assert run_id is not None and not tracker.resumed
    for i in range(1, 251):
        tracker.log_metrics({"train/episode_return": float(i), "learn/loss": 1.0 / i}, i * 400)
        if i % 25 == 0:
            tracker.flush()
    assert tracker.drain(30)
    tracker.finish("FINISHED")

    client = MlflowClient(uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "Pong-custom-s7"
    assert client.get_experiment(run.info.experiment_id).name == SUITE
    tags = run.data.tags
    expected = {"suite": SUITE, "game": "Pong", "preset": "custom", "seed": "7"}
    assert {k: tags[k] for k in expected} == expected
    assert tags["protocol"] == "nature2015" and tags["device"] == "cpu"
    assert tags["config_hash"] == config.config_hash()
    assert tags["version.torch"] == torch.__version__ and tags["version.mlflow"]
    assert "git_commit" in tags and tags["cpu"] == cpu_description()
    pong = ale_py.roms.get_rom_path("pong")
    assert pong is not None and tags["rom_md5"] == hashlib.md5(pong.read_bytes()).hexdigest()
    # Params: the resolved config, without the settings this run does not use.
    params = run.data.params
    flat = config.flatten()
    assert config.env.noop_max is None and params["env.noop_max"] == "30"  # nature2015's value
    assert params["env.repeat_action_probability"] == "0.0"
    assert params["env.terminal_on_life_loss"] == "True"
    assert params["env.max_episode_frames"] == "108000"
    assert params["agent.learning_rate"] == str(flat["agent.learning_rate"])
    assert not config.agent.distributional and "agent.num_atoms" not in params
    assert not config.replay.prioritized and "replay.priority_alpha" not in params
    assert not config.agent.noisy and "agent.noisy_sigma0" not in params
    assert "description" not in params and "citation" not in params
    assert set(params) <= set(flat)
    assert tags["config_group"] == make_config(seed=8).group_hash() != tags["config_hash"]
    assert f"{config.train.total_steps:,} agent steps" in tags["mlflow.note.content"]
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml"]
    returns = history(uri, run_id, "train/episode_return")
    assert returns == {i * 400: float(i) for i in range(1, 251)}
    assert len(history(uri, run_id, "learn/loss")) == 250
    saved = json.loads((run_dir / RUN_FILE).read_text())
    assert saved["run_id"] == run_id and saved["tracking_uri"] == uri and saved["params_logged"]
    assert not (run_dir / PENDING_FILE).exists()


def test_resume_continues_the_same_mlflow_run(tmp_path: Path, uri: str) -> None:
    config = make_config(seed=1)
    run_dir = make_run_dir(tmp_path / "run", config)
    first = fast_tracker(config, run_dir, uri)
    run_id = first.start()
    first.log_metrics({"train/x": 1.0}, 100)
    first.flush()
    first.finish("KILLED")
    assert MlflowClient(uri).get_run(run_id).info.status == "KILLED"

    longer = replace(config, train=replace(config.train, total_steps=2 * config.train.total_steps))
    second = fast_tracker(longer, run_dir, uri)
    assert second.start() == run_id and second.resumed
    run = MlflowClient(uri).get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.tags["resumes"] == "1"
    assert run.data.params["train.total_steps"] == str(config.train.total_steps)
    assert run.data.tags["resumed.train.total_steps"] == str(longer.train.total_steps)
    second.log_metrics({"train/x": 2.0}, 200)
    second.finish("FINISHED")
    assert history(uri, run_id, "train/x") == {100: 1.0, 200: 2.0}
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"
    assert len(MlflowClient(uri).search_runs([run.info.experiment_id])) == 1


def test_a_resume_under_another_suite_keeps_the_run_and_says_where_it_is(
    tmp_path: Path, uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Started by hand ('adhoc'), resumed by a suite's workflow: same run, a warning."""
    config = make_config(seed=2)
    run_dir = make_run_dir(tmp_path / "run", config)
    first = fast_tracker(config, run_dir, uri)
    run_id = first.start()
    first.finish("KILLED")
    suite = replace(config, tracking=replace(config.tracking, suite="atari100k-drq"))
    second = fast_tracker(suite, run_dir, uri)
    with caplog.at_level(logging.WARNING, logger="dqn_core.tracking"):
        assert second.start() == run_id and second.resumed
    second.finish("FINISHED")
    client = MlflowClient(uri)
    experiment = client.get_experiment(client.get_run(run_id).info.experiment_id)
    assert experiment.name == config.tracking.suite != "atari100k-drq"
    assert (
        f"stays in experiment {config.tracking.suite!r}, where it started, "
        "not in this run's 'atari100k-drq'" in caplog.text
    )


def test_a_run_file_from_another_store_starts_a_new_run(
    tmp_path: Path, uri: str, template_db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config()
    run_dir = make_run_dir(tmp_path / "run", config)
    a = fast_tracker(config, run_dir, uri)
    old = a.start()
    a.finish()
    other_db = tmp_path / "other.db"
    shutil.copy(template_db, other_db)
    other = f"sqlite:///{other_db}"
    b = fast_tracker(config, run_dir, other)
    with caplog.at_level(logging.WARNING, logger="dqn_core.tracking"):
        new = b.start()
    b.finish()
    assert new is not None and new != old and "starting a new MLflow run" in caplog.text
    assert json.loads((run_dir / RUN_FILE).read_text())["tracking_uri"] == other


def test_a_disabled_tracker_touches_nothing(tmp_path: Path) -> None:
    tracker = Tracker(make_config(), tmp_path, uri="http://127.0.0.1:9", enabled=False)
    assert tracker.start() is None
    tracker.log_metrics({"a": 1.0}, 0)
    tracker.flush()
    assert tracker.log_artifact(tmp_path) is False
    assert tracker.log_model(torch.nn.Linear(2, 2)) is None
    tracker.finish("FAILED")
    assert list(tmp_path.iterdir()) == []


def test_finish_without_start_is_a_no_op_and_status_is_checked(tmp_path: Path, uri: str) -> None:
    tracker = fast_tracker(make_config(), tmp_path, uri)
    tracker.finish("FAILED")
    with pytest.raises(ValueError, match="FINISHED, FAILED, KILLED"):
        tracker.finish("DONE")


@pytest.mark.parametrize(
    ("metrics", "step", "match"),
    [
        ({"bad name!": 1.0}, 0, "metric name"),
        ({"../escape": 1.0}, 0, "metric name"),
        ({"ok": "high"}, 0, "expected a number"),
        ({"ok": 1.0}, -4, "step_frames"),
        ({"ok": 1.0}, 2.5, "step_frames"),
    ],
)
def test_log_metrics_rejects_caller_bugs(
    tmp_path: Path, metrics: dict[str, Any], step: Any, match: str
) -> None:
    tracker = Tracker(make_config(), tmp_path, uri="http://127.0.0.1:9", enabled=True)
    with pytest.raises(ValueError, match=match):
        tracker.log_metrics(metrics, step)


def test_log_metrics_accepts_tensor_and_numpy_scalars(tmp_path: Path, uri: str) -> None:
    import numpy as np

    tracker = fast_tracker(make_config(), make_run_dir(tmp_path / "r", make_config()), uri)
    run_id = tracker.start()
    assert run_id is not None
    tracker.log_metrics({"a": torch.tensor(1.5), "b": np.float32(2.0), "c": 3}, np.int64(8))
    tracker.finish()
    assert history(uri, run_id, "a") == {8: 1.5} and history(uri, run_id, "c") == {8: 3.0}


# ------------------------------------------------------------------- outages
def test_unreachable_server_never_blocks_and_nothing_is_lost(
    tmp_path: Path, uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(seed=2)
    run_dir = make_run_dir(tmp_path / "run", config)
    artifact = run_dir / "eval.csv"
    artifact.write_text("step,frames,episode,score,length_frames,truncated\n")
    away = f"http://admin:s3cret@127.0.0.1:{closed_port()}"
    tracker = fast_tracker(config, run_dir, away)
    t0 = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="dqn_core.tracking"):
        assert tracker.start() is None
        for i in range(20):  # 20 log points while the server is away
            tracker.log_metrics({"train/x": float(i), "train/y": -float(i)}, i * 100)
            tracker.flush()
            time.sleep(0.01)
        assert tracker.log_artifact(artifact) is False
        assert tracker.log_model(torch.nn.Linear(2, 2)) is None
        tracker.finish("FINISHED")
    elapsed = time.monotonic() - t0
    assert elapsed < 5, f"training-side calls took {elapsed:.1f} s with the server away"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "failed" in r.msg]
    assert len(warnings) == 1  # once; the retries log at debug level
    assert "s3cret" not in caplog.text and "admin:***@" in caplog.text

    lines = [json.loads(x) for x in (run_dir / PENDING_FILE).read_text().splitlines()]
    assert sum(x["type"] == "metric" for x in lines) == 40
    assert {"type": "artifact", "path": str(artifact), "artifact_path": None} in lines
    assert lines[-1]["type"] == "status" and lines[-1]["status"] == "FINISHED"
    stamps = {(x["key"], x["step"]): x["timestamp"] for x in lines if x["type"] == "metric"}

    # The next process on this run directory (a resume) gets a working store.
    again = fast_tracker(config, run_dir, uri)
    run_id = again.start()
    assert run_id is not None and again.drain(30)
    again.finish("FINISHED")
    assert history(uri, run_id, "train/x") == {i * 100: float(i) for i in range(20)}
    got = MlflowClient(uri).get_metric_history(run_id, "train/y")
    assert {(m.key, m.step): m.timestamp for m in got} == {
        k: v for k, v in stamps.items() if k[0] == "train/y"
    }
    assert "eval.csv" in [a.path for a in MlflowClient(uri).list_artifacts(run_id)]
    assert not (run_dir / PENDING_FILE).exists()


def test_a_hung_server_costs_flushes_nothing(tmp_path: Path) -> None:
    """A server that accepts connections but never answers (the worst case)."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(64)
    try:
        config = make_config()
        run_dir = make_run_dir(tmp_path / "run", config)
        tracker = fast_tracker(config, run_dir, f"http://127.0.0.1:{hung.getsockname()[1]}")
        t0 = time.monotonic()
        assert tracker.start() is None  # one request, bounded by the 1 s HTTP timeout
        start_s = time.monotonic() - t0
        flushes = []
        for i in range(50):
            tracker.log_metrics({"train/x": float(i)}, i)
            t1 = time.monotonic()
            tracker.flush()
            flushes.append(time.monotonic() - t1)
        tracker.finish("FAILED")
        assert start_s < 4 and max(flushes) < 0.1, (start_s, max(flushes))
        assert time.monotonic() - t0 < 15
    finally:
        hung.close()
    lines = (run_dir / PENDING_FILE).read_text().splitlines()
    assert len(lines) == 51 and json.loads(lines[-1])["status"] == "FAILED"


def test_an_outage_mid_run_is_retried_until_everything_lands(
    tmp_path: Path, uri: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config()
    tracker = fast_tracker(config, make_run_dir(tmp_path / "run", config), uri)
    run_id = tracker.start()
    assert run_id is not None
    real = MlflowClient.log_batch
    outage = {"on": True}

    def flaky(self: MlflowClient, *args: Any, **kw: Any) -> Any:
        if outage["on"]:
            raise MlflowException("API request failed: Connection refused")
        return real(self, *args, **kw)

    monkeypatch.setattr(MlflowClient, "log_batch", flaky)
    with caplog.at_level(logging.INFO, logger="dqn_core.tracking"):
        for i in range(30):
            tracker.log_metrics({"train/x": float(i)}, i)
            tracker.flush()
        deadline = time.monotonic() + 10
        while tracker.reachable and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not tracker.reachable and tracker.pending > 0
        outage["on"] = False  # the server comes back
        assert tracker.drain(30)
    tracker.finish()
    assert history(uri, run_id, "train/x") == {i: float(i) for i in range(30)}
    assert "answers again" in caplog.text


_EXIT_WITHOUT_FINISH = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from dqn_core.config import RunConfig, TrackingConfig
    from dqn_core.tracking import Tracker

    config = RunConfig(seed=4, tracking=TrackingConfig(suite="unit"))
    tracker = Tracker(config, Path(sys.argv[1]), uri=sys.argv[2], retry_initial_s=0.05)
    tracker.start()
    for i in range(10):
        tracker.log_metrics({"train/x": float(i)}, i * 10)
    tracker.flush()
    sys.exit(3)  # the loop died without reaching finish()
    """
)


def test_pending_values_survive_a_process_that_never_finishes(tmp_path: Path, uri: str) -> None:
    config = make_config(seed=4)
    run_dir = make_run_dir(tmp_path / "run", config)
    away = f"http://127.0.0.1:{closed_port()}"
    proc = subprocess.run(
        [sys.executable, "-c", _EXIT_WITHOUT_FINISH, str(run_dir), away],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr[-2000:]
    lines = (run_dir / PENDING_FILE).read_text().splitlines()
    assert len(lines) == 10
    assert sync_from_csv(run_dir, uri=uri) == 10
    run_id = json.loads((run_dir / RUN_FILE).read_text())["run_id"]
    assert history(uri, run_id, "train/x") == {i * 10: float(i) for i in range(10)}
    assert not (run_dir / PENDING_FILE).exists()


# ---------------------------------------------------------------------- sync
CSV_HEADER = "step,frames,time_s,train/episode_return,learn/loss,eval/return_mean"


def write_metrics_csv(run_dir: Path, steps: range) -> None:
    rows = [CSV_HEADER]
    for step in steps:
        evaluation = f"{step / 10:.1f}" if step % 500 == 0 else ""
        rows.append(f"{step},{step * 4},{step / 100:.3f},{step / 2:.1f},{1 / step!r},{evaluation}")
    (run_dir / "metrics.csv").write_text("\n".join(rows) + "\n")


def test_sync_from_csv_sends_only_what_mlflow_lacks(tmp_path: Path, uri: str) -> None:
    config = make_config(seed=5)
    run_dir = make_run_dir(tmp_path / "run", config)
    tracker = fast_tracker(config, run_dir, uri)
    run_id = tracker.start()
    assert run_id is not None
    for step in range(100, 600, 100):  # the first half reached MLflow before an outage
        tracker.log_metrics({"train/episode_return": step / 2, "learn/loss": 1 / step}, step * 4)
    tracker.finish("FAILED")
    write_metrics_csv(run_dir, range(100, 1100, 100))  # the run directory has it all

    assert sync_from_csv(run_dir, uri=uri) == 5 + 5 + 2
    assert history(uri, run_id, "train/episode_return") == {
        s * 4: s / 2 for s in range(100, 1100, 100)
    }
    assert history(uri, run_id, "eval/return_mean") == {2000: 50.0, 4000: 100.0}
    assert sync_from_csv(run_dir, uri=uri) == 0  # idempotent
    assert MlflowClient(uri).get_run(run_id).info.status == "FAILED"
    (run_dir / "summary.json").write_text("{}")
    sync_from_csv(run_dir)  # the URI recorded in mlflow_run.json (no credentials in it)
    assert MlflowClient(uri).get_run(run_id).info.status == "FINISHED"


def test_a_resume_backfills_values_a_killed_process_never_sent(tmp_path: Path, uri: str) -> None:
    config = make_config(seed=8)
    run_dir = make_run_dir(tmp_path / "run", config)
    first = fast_tracker(config, run_dir, uri)
    run_id = first.start()
    assert run_id is not None
    first.log_metrics({"train/episode_return": 50.0, "learn/loss": 0.01}, 400)
    first.finish("KILLED")
    # The killed process had written rows up to step 500 but sent only step 100;
    # its pending file also kept step 200's return.
    write_metrics_csv(run_dir, range(100, 600, 100))
    (run_dir / PENDING_FILE).write_text(
        json.dumps(
            {
                "type": "metric",
                "key": "train/episode_return",
                "value": 100.0,
                "timestamp": 123,
                "step": 800,
            }
        )
        + "\n"
    )
    second = fast_tracker(config, run_dir, uri)
    assert second.start() == run_id
    assert second.drain(30)
    second.finish()
    returns = MlflowClient(uri).get_metric_history(run_id, "train/episode_return")
    assert sorted((m.step, m.value) for m in returns) == [
        (s * 4, s / 2) for s in range(100, 600, 100)
    ]
    assert [m.timestamp for m in returns if m.step == 800] == [123]  # not sent twice
    assert history(uri, run_id, "eval/return_mean") == {2000: 50.0}


def test_sync_from_csv_creates_the_run_when_there_is_none(tmp_path: Path, uri: str) -> None:
    config = make_config(seed=6)
    run_dir = make_run_dir(tmp_path / "run", config)
    (run_dir / "metrics.csv").write_text(CSV_HEADER + "\n100,400,1.5,3.0,0.5,\n")
    assert sync_from_csv(run_dir, uri=uri) == 2
    run_id = json.loads((run_dir / RUN_FILE).read_text())["run_id"]
    run = MlflowClient(uri).get_run(run_id)
    assert run.info.run_name == "Pong-custom-s6" and run.info.status == "KILLED"
    assert run.data.params["seed"] == "6"
    assert history(uri, run_id, "learn/loss") == {400: 0.5}


def test_sync_from_csv_fails_loudly_when_mlflow_is_away(tmp_path: Path) -> None:
    config = make_config()
    run_dir = make_run_dir(tmp_path / "run", config)
    with pytest.raises(TrackingError, match=r"127\.0\.0\.1"):
        sync_from_csv(run_dir, uri=f"http://127.0.0.1:{closed_port()}")


# -------------------------------------------------------------------- models
class PixelNet(torch.nn.Module):
    """A small uint8-pixel Q-network, like the Nature CNN's interface."""

    def __init__(self) -> None:
        super().__init__()
        self.obs_shape = (4, 20, 20)
        self.conv = torch.nn.Conv2d(4, 8, 4, stride=4)
        self.head = torch.nn.Linear(8 * 5 * 5, 3)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if obs.dtype != torch.uint8:
            raise TypeError("uint8 pixels expected")
        x = torch.relu(self.conv(obs.float() / 255.0))
        return self.head(torch.flatten(x, 1))


class Branchy(torch.nn.Module):
    """Data-dependent control flow: torch.export cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        if float(y.sum()) > 0:
            return y
        return -y


@pytest.fixture
def started(tmp_path: Path, uri: str) -> Iterator[Tracker]:
    config = make_config()
    tracker = fast_tracker(config, make_run_dir(tmp_path / "run", config), uri)
    assert tracker.start() is not None
    yield tracker
    tracker.finish()


def test_log_model_logs_a_pt2_model_that_loads_back(started: Tracker) -> None:
    import mlflow.pytorch

    net = PixelNet().train()
    model_uri = started.log_model(net, "policy")  # input example inferred from obs_shape
    assert model_uri is not None and model_uri.startswith("models:/")
    assert net.training  # the caller's module is untouched
    # models:/ URIs resolve through the process-wide tracking URI, which log_model
    # restores to whatever an earlier test (or the caller) had set: point it here.
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(started.uri)
    try:
        loaded = mlflow.pytorch.load_model(model_uri)
    finally:
        mlflow.set_tracking_uri(previous)
    x = torch.randint(0, 256, (5, 4, 20, 20), dtype=torch.uint8)  # another batch size
    with torch.no_grad():
        assert torch.allclose(loaded(x), net.eval()(x))
    model = MlflowClient(started.uri).get_logged_model(model_uri.split("/")[-1])
    assert model.source_run_id == started.run_id
    assert model.experiment_id == started.experiment_id


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_log_model_falls_back_to_the_state_dict(
    started: Tracker, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    net = Branchy()
    with caplog.at_level(logging.WARNING, logger="dqn_core.tracking"):
        model_uri = started.log_model(net, "policy", input_example=torch.ones(1, 3))
    assert model_uri == f"runs:/{started.run_id}/policy/state_dict.pt"
    assert "pt2 format failed" in caplog.text
    local = MlflowClient(started.uri).download_artifacts(
        started.run_id, "policy/state_dict.pt", str(tmp_path)
    )
    state = torch.load(local, weights_only=True)
    assert torch.equal(state["fc.weight"], net.fc.weight)


# ------------------------------------------------------------- concurrency
def _train_like(seed: int, run_dir: Path, uri: str) -> str:
    """What one job of a fan-out does: 100 log points x 3 metrics = 300 values."""
    config = RunConfig(seed=seed, tracking=TrackingConfig(suite="fanout"))
    tracker = Tracker(config, run_dir, uri=uri, retry_initial_s=0.2, drain_timeout_s=60)
    run_id = tracker.start()
    assert run_id is not None, "no MLflow run"
    for i in range(100):
        tracker.log_metrics({"train/a": i, "train/b": -i, "learn/c": i / 2}, i * 4)
        if i % 10 == 9:
            tracker.flush()
    tracker.finish("FINISHED")
    return run_id


def _fan_out(tmp_path: Path, n: int) -> None:
    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"  # fresh: nobody initialised it
    run_ids = _in_processes(_train_like, [(k, tmp_path / f"run{k}", uri) for k in range(n)])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("fanout")
    runs = client.search_runs([exp.experiment_id])
    assert sorted(r.info.run_id for r in runs) == sorted(run_ids)
    assert sorted(r.info.run_name for r in runs) == sorted(f"Pong-custom-s{k}" for k in range(n))
    for run in runs:
        assert run.info.status == "FINISHED"
        for key in ("train/a", "train/b", "learn/c"):
            assert len(client.get_metric_history(run.info.run_id, key)) == 100
    assert not list(tmp_path.glob(f"run*/{PENDING_FILE}"))


def test_eight_concurrent_trackers_on_a_fresh_store(tmp_path: Path) -> None:
    _fan_out(tmp_path, 8)


# -------------------------------------------------------- real server (slow)
def _wait_for_server(url: str, timeout_s: float) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow server at {url} did not come up in {timeout_s} s")


def _server(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    return subprocess.Popen(
        [
            str(mlflow_bin),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as a tree below
    )


def _stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, 15)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)
        server.wait()


@pytest.mark.slow
def test_a_real_server_going_away_and_coming_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")  # a fresh server answers slowly
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    server = _server(tmp_path, port)
    try:
        _wait_for_server(url, 120)
        config = make_config()
        tracker = fast_tracker(config, make_run_dir(tmp_path / "run", config), url, retry_max_s=1.0)
        tracker.start()
        tracker.log_metrics({"train/x": 0.0}, 0)
        assert tracker.drain(60)
        run_id = tracker.run_id
        assert run_id is not None
        _stop(server)
        t0 = time.monotonic()
        for i in range(1, 21):
            tracker.log_metrics({"train/x": float(i)}, i)
            tracker.flush()
        assert time.monotonic() - t0 < 1.0
        server = _server(tmp_path, port)
        _wait_for_server(url, 120)
        assert tracker.drain(60)
        tracker.finish()
        assert history(url, run_id, "train/x") == {i: float(i) for i in range(21)}
        assert MlflowClient(url).get_run(run_id).info.status == "FINISHED"
    finally:
        _stop(server)


def test_params_of_a_rainbow_style_run_leave_out_what_it_does_not_use() -> None:
    from dqn_core.config import load_config
    from dqn_core.tracking.records import _params

    der = load_config("der")
    params = _params(der)
    for used in ("agent.num_atoms", "agent.v_min", "agent.noisy_sigma0", "agent.adam_betas"):
        assert used in params, used
    assert params["replay.priority_alpha"] == "0.5"
    for unused in ("agent.epsilon_start", "agent.loss", "agent.rmsprop_alpha", "agent.mlp_hidden"):
        assert unused not in params, unused
    # atari100k's resolved protocol values (up to 30 no-op frames, as Dopamine's runners).
    assert params["env.noop_max"] == "30" and params["env.terminal_on_life_loss"] == "True"
    cartpole = _params(load_config("cartpole"))
    assert "env.noop_max" not in cartpole and cartpole["env.max_episode_frames"] == "500"
    # Seeds of one configuration share the group hash, other settings do not.
    assert der.group_hash() == load_config("der", sets=["seed=9"]).group_hash()
    assert der.group_hash() != load_config("der", sets=["agent.learning_rate=0.001"]).group_hash()
    assert der.config_hash() != load_config("der", sets=["seed=9"]).config_hash()
