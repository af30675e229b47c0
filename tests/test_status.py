"""`dqn status`: where a suite's runs stand, read from real run folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dqn_core.cli import main
from dqn_core.config import load_config
from dqn_core.experiment import evaluate_run, train
from dqn_core.results.progress import suite_progress


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
