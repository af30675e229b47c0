"""The MLflow tracking server goes away mid-run and comes back: training never stops
and every metric of metrics.csv ends up in MLflow.

The default test uses the session's real ``mlflow server`` behind a TCP switch
(off = connection refused, open connections cut), which costs no server
restart. The slow test stops the real server's process tree with SIGTERM and
starts it again, twice: once coming back mid-run, once only after the run
has ended, when ``dqn mlflow-sync`` sends what the run kept in
``mlflow_pending.jsonl``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from dqn_core.tracking import Tracker, sync_from_csv

from . import (
    LOG_EVERY,
    MlflowServer,
    OutageRun,
    RunSpec,
    assert_clean_output,
    assert_mlflow_mirrors_csv,
    check_finished_run,
    child_env,
    last_logged_step,
    launch,
    run_dqn,
    stopped,
    wait_until,
)

pytestmark = pytest.mark.integration


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path):
        out |= _artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def test_training_never_stops_and_every_metric_lands_after_an_outage(
    outage_run: OutageRun,
) -> None:
    run = outage_run
    assert run.rc == 0, run.output[-4000:]
    assert_clean_output(run.output, "dqn train with an MLflow outage")
    # Training went on for four log rows while nothing answered.
    assert run.up_at_step - run.down_from_step >= 4 * LOG_EVERY
    assert "training continues" in run.output and "answers again" in run.output
    check_finished_run(run.spec.run_dir, run.spec.steps)
    assert_mlflow_mirrors_csv(run.server.url, run.spec.run_dir)
    run_id = json.loads((run.spec.run_dir / "mlflow_run.json").read_text())["run_id"]
    client = MlflowClient(run.server.url)
    mlrun = client.get_run(run_id)
    assert mlrun.info.status == "FINISHED"
    assert mlrun.info.run_name == "Pong-nature-dqn-s7"
    assert mlrun.data.params["train.total_steps"] == str(run.spec.steps)
    # The checkpoint written during the outage was deferred, then uploaded.
    assert {"config.yaml", "checkpoints/latest.pt", "checkpoints/final.pt", "eval.csv"} <= (
        _artifacts(client, run_id)
    )
    assert not (run.spec.run_dir / "mlflow_pending.jsonl").exists()


def test_a_value_regenerated_after_a_kill_replaces_the_stale_one(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Process A sends step 100 and dies before its checkpoint; process B resumes from
    step 0, logs step 100 again (another value: episodes restarted), checkpoints it and
    dies before its sender runs; the next process (or `dqn mlflow-sync`) must fix MLflow."""
    spec = RunSpec(tmp_path / "run", steps=800, mlflow=True, suite="stale")
    spec.run_dir.mkdir(parents=True)
    config = spec.config()
    (spec.run_dir / "config.yaml").write_text(config.to_yaml())
    first = Tracker(config, spec.run_dir, uri=mlflow_server.url, enabled=True, device="cpu")
    first.start()
    first.log_metrics({"train/episode_return": -21.0}, step_frames=400)
    assert first.drain(60)
    first.finish("KILLED")
    (spec.run_dir / "metrics.csv").write_text(
        "step,frames,time_s,train/episode_return\n100,400,1.5,-20.0\n"
    )
    sync_from_csv(spec.run_dir, uri=mlflow_server.url)
    run_id = json.loads((spec.run_dir / "mlflow_run.json").read_text())["run_id"]
    history = MlflowClient(mlflow_server.url).get_metric_history(run_id, "train/episode_return")
    latest = max((m.timestamp, m.value) for m in history if m.step == 400)[1]
    assert latest == -20.0, f"MLflow's latest value is {latest}, metrics.csv has -20.0"


@pytest.mark.slow
def test_real_server_stopped_and_restarted_mid_run_and_after_the_end(tmp_path: Path) -> None:
    server = MlflowServer(tmp_path / "server")
    server.start()
    spec = RunSpec(tmp_path / "run", steps=2000, mlflow=True, suite="restart")
    env = child_env({"MLFLOW_TRACKING_URI": server.url, "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"})
    metrics = spec.run_dir / "metrics.csv"
    child = launch(spec.cli_args(), tmp_path / "train.log", env=env)
    try:
        wait_until(
            lambda: (spec.run_dir / "mlflow_run.json").exists() and last_logged_step(metrics) > 0,
            300,
            "the MLflow run and a first log row",
            child,
        )
        run_id = json.loads((spec.run_dir / "mlflow_run.json").read_text())["run_id"]
        server.stop()
        down_from = last_logged_step(metrics)
        wait_until(
            lambda: last_logged_step(metrics) >= down_from + 4 * LOG_EVERY,
            300,
            "training to go on with the server stopped",
            child,
        )
        # A restart takes ~15-20 s; the trainer is frozen meanwhile so that the
        # server is back while the run still has steps to go, on any machine.
        with stopped(child.proc):
            server.start()
        logged_while_down = 4 * (down_from + 4 * LOG_EVERY)  # frames of a row from the outage
        client = MlflowClient(server.url)
        wait_until(
            lambda: any(
                m.step >= logged_while_down
                for m in client.get_metric_history(run_id, "train/episodes")
            ),
            120,
            "the values logged during the outage to reach the restarted server mid-run",
            child,
        )
        server.stop()  # away again, this time until after the run has ended
        rc = child.wait(900)
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
    text = child.output()
    assert rc == 0, text[-4000:]
    assert_clean_output(text, "dqn train with two MLflow outages")
    assert "mlflow_pending.jsonl" in text
    check_finished_run(spec.run_dir, spec.steps)
    assert (spec.run_dir / "mlflow_pending.jsonl").is_file()

    server.start()
    try:
        rc, out = run_dqn(["mlflow-sync", str(spec.run_dir)], tmp_path / "sync.log", env=env)
        assert rc == 0, out[-4000:]
        assert_mlflow_mirrors_csv(server.url, spec.run_dir)
        client = MlflowClient(server.url)
        assert client.get_run(run_id).info.status == "FINISHED"
        assert {"checkpoints/final.pt", "eval.csv"} <= _artifacts(client, run_id)
        assert not (spec.run_dir / "mlflow_pending.jsonl").exists()
        rc, out = run_dqn(["mlflow-sync", str(spec.run_dir)], tmp_path / "sync2.log", env=env)
        assert rc == 0 and "0 metric values sent" in out, out[-4000:]
    finally:
        server.stop()
