"""`dqn status`: where a suite's runs stand, read from real run folders."""

from __future__ import annotations

import csv
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from dqn_core.cli import main
from dqn_core.config import ConfigError, load_config
from dqn_core.experiment import evaluate_run, train
from dqn_core.results.progress import render_progress, suite_plan, suite_progress


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with one run evaluated, one trained, one part-trained."""
    root = tmp_path_factory.mktemp("status") / "results" / "s"
    done = root / "runs" / "cartpole" / "CartPole" / "seed0"
    sets = ["train.total_steps=300", "train.learning_starts=100", "eval.every_steps=300"]
    sets += ["eval.episodes=2", "tracking.mlflow=false", "tracking.progress=false"]
    sets += ["train.checkpoint_every_steps=200"]
    train(load_config("cartpole", sets=sets), done, quiet=True)
    evaluate_run(done, episodes=3)
    trained = done.parent.parent / "CartPole" / "seed1"
    shutil.copytree(done, trained)
    (trained / "evaluate.csv").unlink()
    part = done.parent.parent / "CartPole" / "seed2"
    shutil.copytree(trained, part)
    (part / "summary.json").unlink()
    (part / "checkpoints" / "ckpt-000000000300.pt").unlink()
    # `dqn evaluate` of the part-trained run's checkpoint, into evaluate.csv: not final.
    evaluate_run(part, episodes=1)
    return root


def test_each_run_says_how_far_it_got(suite: Path) -> None:
    rows = {r.run_id: r for r in suite_progress(suite)}
    done, trained, part = (rows[f"cartpole/CartPole/seed{k}"] for k in range(3))
    assert (done.state, done.step, done.total_steps, done.checkpoint_step) == (
        "evaluated",
        300,
        300,
        300,
    )
    with open(suite / "runs" / "cartpole" / "CartPole" / "seed0" / "evaluate.csv") as f:
        scores = [float(line.split(",")[3]) for line in f.readlines()[1:]]
    assert len(scores) == 3 and done.score == pytest.approx(sum(scores) / 3)
    assert trained.state == "trained" and trained.score is not None  # the in-run evaluation
    assert (part.state, part.checkpoint_step, part.score) == ("training", 200, None)


def test_the_suite_file_adds_its_runs_without_a_folder(suite: Path, capsys) -> None:
    cfg = suite.parent / "suite.yaml"
    cfg.write_text("presets: [cartpole]\ngames: [CartPole]\nseeds: [0, 1, 2, 3]\n")
    assert main(["status", str(suite), "--suite-config", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "4 runs: 1 evaluated, 1 trained, 1 training, 1 not started"
    states = [line.split()[:2] for line in out[1:-1]]
    assert states == [
        ["cartpole/CartPole/seed0", "evaluated"],
        ["cartpole/CartPole/seed1", "trained"],
        ["cartpole/CartPole/seed2", "training"],
        ["cartpole/CartPole/seed3", "not"],
    ]


def test_bad_input_is_named(suite: Path, tmp_path: Path, capsys) -> None:
    assert main(["status", str(tmp_path)]) == 1
    assert "no run folders" in capsys.readouterr().err
    bad = tmp_path / "suite.yaml"
    bad.write_text("games: [Pong]\n")
    assert main(["status", str(suite), "--suite-config", str(bad)]) == 2
    assert "needs presets, games and seeds" in capsys.readouterr().err
    empty = tmp_path / "empty.yaml"
    empty.write_text("presets: [cartpole]\ngames: []\nseeds: [0]\n")
    assert main(["status", str(suite), "--suite-config", str(empty)]) == 2
    assert f"{empty}: needs presets" in capsys.readouterr().err


def test_the_plan_is_presets_x_games_x_seeds_as_strings() -> None:
    cfg = {"presets": ["a", "b"], "games": ["Pong"], "seeds": [0, 1]}
    assert suite_plan(cfg) == [
        ("a", "Pong", "0"),
        ("a", "Pong", "1"),
        ("b", "Pong", "0"),
        ("b", "Pong", "1"),
    ]
    for bad in ({}, [], {"presets": ["a"], "games": ["Pong"], "seeds": 0}):
        with pytest.raises(ConfigError, match="needs presets, games and seeds"):
            suite_plan(bad)


def test_a_part_trained_run_shows_its_rate_time_left_and_last_log(suite: Path) -> None:
    rows = suite_progress(suite)
    part = next(r for r in rows if r.state == "training")
    metrics = suite / "runs" / part.run_id / "metrics.csv"
    with metrics.open() as f:
        rates = [row["train/steps_per_second"] for row in csv.DictReader(f)]
    assert part.rate == float([r for r in rates if r][-1])
    assert part.logged_at == metrics.stat().st_mtime
    # Its metrics end at the budget, so no training is left; say 100 more steps were due.
    later = replace(part, total_steps=part.step + 100, rate=10.0)
    line = render_progress([later], now=part.logged_at + 2 * 3600 + 125).splitlines()[1]
    assert line.endswith("10.0 steps/s, ~0 min of training left; last logged 2 h 02 min ago")
    slow = replace(later, rate=0.01)  # 10,000 s left
    assert "~2 h 47 min of training left" in render_progress([slow], now=part.logged_at)
    # Evaluated and trained runs show their score there, and nothing of the rate.
    done = next(r for r in rows if r.state == "evaluated")
    assert render_progress([done]).splitlines()[1].endswith(f"{done.score:,.1f}")
