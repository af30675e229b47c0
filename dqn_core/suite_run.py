"""The suite's own MLflow run: its tables, figures and README, and its aggregates.

``dqn report`` ends here when the suite logs to MLflow. In the suite's
experiment (one experiment per suite, one run per training job) it keeps one
more run, named ``suite-<suite>`` and tagged ``dqn.kind = suite``, holding:

- artifacts: ``README.md``, ``tables/`` and ``figures/`` of ``results/<suite>``;
- metrics: from ``tables/aggregate.csv``, for our runs
  ``<group>/<metric>`` with ``<group>/<metric>_ci_low`` and ``_ci_high``
  (IQM, median, mean, optimality gap of the human-normalised scores), and the
  published point values on the same games as ``<group>/published/<algorithm>/<metric>``;
  ``runs`` and ``games`` counts per group.

A later report (more runs finished) updates the same run: artifacts are
replaced and each metric gets a new value at ``step`` = the number of runs
aggregated. MLflow being away never fails the report: a warning says what was
not recorded.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from dqn_core.tracking import default_tracking_uri, git_commit, init_store, redact

log = logging.getLogger(__name__)

SUITE_TAG = "dqn.kind"

_INVALID = re.compile(r"[^A-Za-z0-9_\-./: ]")


def metric_name(*parts: str) -> str:
    """``a/b/c`` with every character MLflow refuses in a metric name replaced by ``_``."""
    return "/".join(_INVALID.sub("_", p) for p in parts)


def suite_metrics(aggregate_csv: Path) -> tuple[dict[str, float], int]:
    """The suite run's metrics from ``tables/aggregate.csv``, and the number of runs.

    Returns:
        ``(metrics, runs)``: name -> value, and the total of our runs aggregated
        (games x runs per game, summed over groups).
    """
    df = pd.read_csv(aggregate_csv)
    metrics: dict[str, float] = {}
    runs = 0
    for group, g in df.groupby("group", sort=True):
        ours = g[g["source"] == "ours"]
        for row in ours.itertuples():
            metrics[metric_name(str(group), str(row.metric))] = float(row.point)
            metrics[metric_name(str(group), f"{row.metric}_ci_low")] = float(row.ci_low)
            metrics[metric_name(str(group), f"{row.metric}_ci_high")] = float(row.ci_high)
        if len(ours):
            first = ours.iloc[0]
            metrics[metric_name(str(group), "games")] = float(first["games"])
            metrics[metric_name(str(group), "runs")] = float(
                first["games"] * first["runs_per_game"]
            )
            runs += round(float(first["games"] * first["runs_per_game"]))
        for row in g[g["source"] != "ours"].itertuples():
            key = metric_name(str(group), "published", str(row.algorithm), str(row.metric))
            metrics[key] = float(row.point)
    return {k: v for k, v in metrics.items() if v == v}, runs  # drop NaN


def record_suite_run(results_dir: Path, suite: str, uri: str | None = None) -> str | None:
    """Create or update the ``suite-<suite>`` run; returns its id (None if MLflow failed).

    Args:
        results_dir: ``results/<suite>`` (holds README.md, tables/, figures/).
        suite: the suite name (= the MLflow experiment).
        uri: tracking URI; default: :func:`~dqn_core.tracking.default_tracking_uri`
            of the results root (``results_dir``'s parent).
    """
    results_dir = Path(results_dir)
    uri = uri or default_tracking_uri(results_dir.parent)
    aggregate_csv = results_dir / "tables" / "aggregate.csv"
    try:
        metrics, runs = suite_metrics(aggregate_csv) if aggregate_csv.is_file() else ({}, 0)
        return _record(results_dir, suite, uri, metrics, runs)
    except Exception as exc:  # the report stands without its MLflow copy
        log.warning(
            "the suite run of %r was not recorded in MLflow (%s): %s",
            suite,
            redact(uri),
            redact(str(exc))[:300],
        )
        return None


def _record(results_dir: Path, suite: str, uri: str, metrics: dict[str, float], runs: int) -> str:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    exp_id = init_store(uri, suite)
    client = MlflowClient(uri)
    name = f"suite-{suite}"
    found = client.search_runs(
        [exp_id],
        filter_string=f"tags.`{SUITE_TAG}` = 'suite' and attributes.run_name = '{name}'",
        max_results=1,
    )
    tags: dict[str, Any] = {
        SUITE_TAG: "suite",
        "suite": suite,
        "git_commit": git_commit()[0],
        "mlflow.note.content": (
            f"The aggregate of suite `{suite}`: tables, figures and README of "
            f"`{results_dir.as_posix()}`, with IQM/median/mean/optimality gap and their "
            "95% CIs as metrics (step = runs aggregated)."
        ),
    }
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status="RUNNING")
    else:
        run_id = client.create_run(exp_id, run_name=name).info.run_id
    for key, value in tags.items():
        client.set_tag(run_id, key, str(value))
    if metrics:
        import time

        now = int(time.time() * 1000)
        batch = [Metric(k, v, now, runs) for k, v in sorted(metrics.items())]
        for i in range(0, len(batch), 1000):  # MLflow's log_batch limit
            client.log_batch(run_id, metrics=batch[i : i + 1000])
    readme = results_dir / "README.md"
    if readme.is_file():
        client.log_artifact(run_id, str(readme))
    for folder in ("tables", "figures"):
        # Each file on its own: Snakemake's marker of a directory output
        # (.snakemake_timestamp) and other hidden files are not results.
        files = sorted((results_dir / folder).glob("*")) if (results_dir / folder).is_dir() else []
        for file in files:
            if file.is_file() and not file.name.startswith("."):
                client.log_artifact(run_id, str(file), folder)
    client.set_terminated(run_id, "FINISHED")
    log.info("suite run %s (%s) recorded: %d metrics, %d runs", name, run_id, len(metrics), runs)
    return str(run_id)


__all__ = ["SUITE_TAG", "metric_name", "record_suite_run", "suite_metrics"]
