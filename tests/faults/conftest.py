"""Shared fixtures of the fault-injection suite: a real MLflow server and a finished run."""

from __future__ import annotations

import json
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dqn_core.experiment import train

from . import (
    CHECKPOINT_EVERY,
    LOG_EVERY,
    MlflowServer,
    OutageRun,
    RunSpec,
    TcpSwitch,
    child_env,
    last_logged_step,
    launch,
    wait_until,
)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One ``mlflow server`` on 127.0.0.1 for the session (starting one costs ~10 s of CPU).

    Tests that stop a server start their own; this one stays up.
    """
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> RunSpec:
    """A finished 400-step run (checkpoints at steps 200 and 400), trained once.

    Tests must not change it: they take a copy with ``copy_run``.
    """
    spec = RunSpec(tmp_path_factory.mktemp("finished") / "run", steps=400)
    train(spec.config(), spec.run_dir, quiet=True)
    return spec


@pytest.fixture
def copy_run(finished_run: RunSpec, tmp_path: Path) -> Callable[[str], RunSpec]:
    """``copy_run(name)``: a private copy of the finished run under ``tmp_path/name``."""

    def make(name: str) -> RunSpec:
        target = tmp_path / name
        shutil.copytree(finished_run.run_dir, target)
        return RunSpec(target, steps=finished_run.steps, seed=finished_run.seed)

    return make


@pytest.fixture(scope="session")
def outage_run(mlflow_server: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> OutageRun:
    """`dqn -v train` against a real MLflow server that goes away mid-run and comes back.

    The server sits behind a :class:`TcpSwitch`: off, its port refuses
    connections (a stopped server, as the client sees it) and open connections
    are cut. The process is given credentials in the URI and in MLflow's and
    AWS's environment variables, so the same run also shows that none of them
    is written anywhere. Debug logging (``-v``) shows every message the
    tracker has.
    """
    switch = TcpSwitch(mlflow_server.port)
    password = f"pw-{secrets.token_hex(8)}"
    env_secrets = {
        "MLFLOW_TRACKING_USERNAME": "faults",
        "MLFLOW_TRACKING_PASSWORD": f"envpw-{secrets.token_hex(8)}",
        "MLFLOW_TRACKING_TOKEN": f"tok-{secrets.token_hex(8)}",
        "AWS_SECRET_ACCESS_KEY": f"aws-{secrets.token_hex(8)}",
    }
    uri = f"http://faults:{password}@127.0.0.1:{switch.port}"
    root = tmp_path_factory.mktemp("outage")
    spec = RunSpec(root / "run", steps=800, mlflow=True, suite="outage")
    env = child_env(
        {"MLFLOW_TRACKING_URI": uri, "MLFLOW_HTTP_REQUEST_TIMEOUT": "20", **env_secrets}
    )
    child = launch(["-v", *spec.cli_args()], root / "train.log", env=env)
    metrics = spec.run_dir / "metrics.csv"
    try:
        wait_until(
            lambda: (spec.run_dir / "mlflow_run.json").exists() and last_logged_step(metrics) > 0,
            300,
            "the MLflow run and a first log row",
            child,
        )
        down_from = last_logged_step(metrics)
        switch.down()
        t_down = time.monotonic()
        # Down for four log rows and at least one checkpoint (whose artifact is deferred).
        wait_until(
            lambda: last_logged_step(metrics) >= max(down_from + 4 * LOG_EVERY, CHECKPOINT_EVERY),
            300,
            "training to go on while MLflow is away",
            child,
        )
        up_at = last_logged_step(metrics)
        switch.up()
        down_s = time.monotonic() - t_down
        rc = child.wait(600)
    finally:
        if child.proc.poll() is None:
            child.proc.kill()
        switch.close()
    run_file = json.loads((spec.run_dir / "mlflow_run.json").read_text())
    assert run_file["run_id"]
    return OutageRun(
        spec=spec,
        uri=uri,
        server=mlflow_server,
        rc=rc,
        output=child.output(),
        secrets=(password, *(v for k, v in env_secrets.items() if k != "MLFLOW_TRACKING_USERNAME")),
        down_from_step=down_from,
        up_at_step=up_at,
        down_s=down_s,
    )
