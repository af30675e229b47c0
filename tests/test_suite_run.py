"""The suite's MLflow run, recorded from a real suite folder into a real sqlite store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dqn_core.suite_run import SUITE_TAG, metric_name, record_suite_run, suite_metrics

REPO = Path(__file__).resolve().parents[1]
# The first Atari-100k campaign (protocol revision 1): a real suite folder, committed.
COMMITTED = REPO / "results" / "atari100k-r1"
GROUP = "der_atari100k-r1_400k"


def test_metric_names_are_made_valid() -> None:
    assert metric_name("g", "published", "DrQ(eps)", "iqm") == "g/published/DrQ_eps_/iqm"


def test_metrics_come_from_the_aggregate_table() -> None:
    metrics, runs = suite_metrics(COMMITTED / "tables" / "aggregate.csv")
    group = GROUP
    assert runs >= 2
    assert metrics[f"{group}/runs"] == runs  # one group in this suite
    for m in ("iqm", "median", "mean", "optimality_gap"):
        assert metrics[f"{group}/{m}_ci_low"] <= metrics[f"{group}/{m}"]
        assert metrics[f"{group}/{m}"] <= metrics[f"{group}/{m}_ci_high"]
    assert f"{group}/published/DrQ_eps_/iqm" in metrics


def test_the_suite_run_holds_tables_figures_readme_and_aggregates(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    results = tmp_path / "results" / "atari100k"
    for part in ("tables", "figures", "README.md"):
        src = COMMITTED / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, results / part)
    (results / "figures" / ".snakemake_timestamp").write_text("")  # a directory output's marker
    uri = f"sqlite:///{(tmp_path / 'results' / 'mlflow.db').as_posix()}"
    run_id = record_suite_run(results, "atari100k", uri=uri)
    assert run_id is not None
    again = record_suite_run(results, "atari100k", uri=uri)  # a later report: same run
    assert again == run_id
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("atari100k")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == "suite-atari100k" and run.data.tags[SUITE_TAG] == "suite"
    assert run.info.status == "FINISHED"
    metrics, runs = suite_metrics(results / "tables" / "aggregate.csv")
    assert run.data.metrics == pytest.approx(metrics)
    history = client.get_metric_history(run_id, f"{GROUP}/iqm")
    assert {m.step for m in history} == {runs}
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"README.md", "tables", "figures"} <= top
    figures = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert "figures/iqm_atari100k-r1_400k.png" in figures
    assert figures == {
        f"figures/{f.name}" for f in (COMMITTED / "figures").iterdir() if not f.name.startswith(".")
    }


def test_an_unreachable_store_warns_and_returns_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    results = tmp_path / "atari100k"
    shutil.copytree(COMMITTED / "tables", results / "tables")
    (tmp_path / "blocker").write_text("a file where the store's folder should be\n")
    bad = f"sqlite:///{tmp_path}/blocker/mlflow.db"
    assert record_suite_run(results, "atari100k", uri=bad) is None
    assert "was not recorded in MLflow" in caplog.text
