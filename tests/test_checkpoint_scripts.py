"""The probe scripts' ``--checkpoint`` path, end to end: a real (tiny) DrQ(eps) run's checkpoint.

``scripts/emulator_compare.py`` and ``scripts/lives_probe.py`` build the
checkpoint's learner with :func:`dqn_core.experiment.trained_learner` and play
the run's own evaluation environment with it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CKPT = "ckpt-000000000120.pt"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("probe") / "run"
    sets = [
        "train.learning_starts=60",
        "train.checkpoint_every_steps=120",
        "replay.capacity=500",
        "eval.episodes=1",
        "eval.max_steps=20",
        "eval.every_steps=120",
        "tracking.mlflow=false",
        "tracking.progress=false",
        "tracking.system_metrics=false",
    ]
    cmd = [sys.executable, "-m", "dqn_core", "train", "--preset", "drq-eps"]
    cmd += ["--game", "DemonAttack", "--seed", "0", "--steps", "120", "--run-dir", str(run)]
    for item in sets:
        cmd += ["--set", item]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (run / "checkpoints" / CKPT).is_file()
    return run


def script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_emulator_compare_replays_a_checkpoints_play_on_a_second_ale_py(run_dir: Path) -> None:
    out = script(
        "emulator_compare.py", str(run_dir), "--checkpoint", CKPT, "--episodes", "1",
        "--max-steps", "40",
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "episode 0: 40 agent steps" in out.stdout
    assert ", 0 differ" in out.stdout, out.stdout


def test_lives_probe_plays_a_checkpoint(run_dir: Path) -> None:
    out = script("lives_probe.py", str(run_dir), "--checkpoint", CKPT, "--max-steps", "40")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{run_dir} {CKPT} epsilon 0.0" in out.stdout
    assert "life 1: " in out.stdout and "first FIRE: " in out.stdout


def test_a_missing_checkpoint_is_named(run_dir: Path) -> None:
    out = script("lives_probe.py", str(run_dir), "--checkpoint", "ckpt-000000000999.pt")
    assert out.returncode == 2 and "ckpt-000000000999.pt does not exist" in out.stderr


def test_fixed_action_plays_the_same_resets_with_a_checkpoint_and_counts_its_actions(
    run_dir: Path,
) -> None:
    out = script(
        "fixed_action.py", "DemonAttack", "FIRE", "--episodes", "2", "--max-steps", "30",
        "--run", str(run_dir), "--checkpoint", CKPT,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("DemonAttack, FIRE every step, 2 episodes (mean 30 agent steps)")
    assert lines[1].startswith("percentile ") and "of DrQ(eps)'s 100 published runs" in lines[1]
    assert lines[2].startswith(f"{run_dir}, {CKPT}, 2 episodes (mean 30 agent steps)")
    shares = [float(part.split()[-1].rstrip("%")) for part in lines[4][16:].split(", ")]
    assert lines[4].startswith("share of steps: ") and abs(sum(shares) - 100.0) < 0.5
