"""scripts/lives_probe.py: per life of a real Breakout episode, steps, points and actions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dqn_core.config import load_config
from dqn_core.envs import make_vec_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from lives_probe import MAX_SNAPS, Life, frame_grid, play_lives  # noqa: E402

NOOP, FIRE, RIGHT, LEFT = range(4)  # Breakout's minimal action set


def scripted(pattern: list[int]):  # type: ignore[no-untyped-def]
    state = {"t": 0}

    def policy(obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
        a = pattern[state["t"] % len(pattern)]
        state["t"] += 1
        return np.array([a], dtype=np.int64)

    return policy


def breakout():  # type: ignore[no-untyped-def]
    config = load_config("der", sets=["env.game=Breakout"])
    return make_vec_env(config, 1, 1, evaluation=True)


def test_serving_loses_every_life_and_records_each() -> None:
    env = breakout()
    assert env.action_meanings[:4] == ["NOOP", "FIRE", "RIGHT", "LEFT"]
    lives, first_fire = play_lives(
        env, scripted([LEFT, LEFT, LEFT, FIRE]), 0.0, np.random.default_rng(0), 5000, FIRE
    )
    env.close()
    assert len(lives) == 5 and all(life.ended for life in lives)  # 5 lives, the game over
    assert first_fire == 3
    assert sum(life.steps for life in lives) < 1000
    assert all(set(life.actions) == {LEFT, FIRE} for life in lives)


def test_each_life_keeps_its_frames_for_the_grid() -> None:
    env = breakout()
    lives, _ = play_lives(
        env, scripted([LEFT, LEFT, LEFT, FIRE]), 0.0, np.random.default_rng(0), 5000, FIRE, 40
    )
    env.close()
    for life in lives:
        assert len(life.frames) == min(MAX_SNAPS, -(-life.steps // 40)), life.steps
        assert all(f.shape == (84, 84) and f.dtype == np.uint8 for f in life.frames)
    first = lives[0].frames
    assert any(not np.array_equal(first[0], f) for f in first[1:])  # the ball moved
    grid = frame_grid(lives)
    width = max(len(life.frames) for life in lives)
    assert grid.shape == (len(lives) * 86, width * 86)
    assert np.array_equal(grid[1:85, 1:85], first[0])
    row, col = 86 * (len(lives) - 1) + 1, 86 * (len(lives[-1].frames) - 1) + 1
    assert np.array_equal(grid[row : row + 84, col : col + 84], lives[-1].frames[-1])
    with pytest.raises(ValueError, match="no frames"):
        frame_grid([Life()])


def test_a_policy_that_never_serves_keeps_its_first_life() -> None:
    env = breakout()
    lives, first_fire = play_lives(env, scripted([LEFT]), 0.0, np.random.default_rng(0), 600, FIRE)
    env.close()
    (life,) = lives
    assert (life.steps, life.points, life.ended, first_fire) == (600, 0.0, False, None)
    assert life.actions == {LEFT: 600}


def test_the_script_needs_a_run_directory(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "lives_probe.py"),
            str(tmp_path),
            "--checkpoint",
            "x.pt",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "has no config.yaml" in proc.stderr


def test_noisy_needs_a_network_with_noisy_layers(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "ckpt.pt").write_bytes(b"")
    config = load_config("nature-dqn", sets=["env.game=Breakout"])
    (tmp_path / "config.yaml").write_text(config.to_yaml())
    script = str(ROOT / "scripts" / "lives_probe.py")
    proc = subprocess.run(
        [sys.executable, script, str(tmp_path), "--checkpoint", "ckpt.pt", "--noisy"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "has no noisy layers" in proc.stderr


def test_breakout_serves_before_65536_frames_of_an_episode_and_never_after() -> None:
    """Finding 7: FIRE at agent step 10,000 serves (a life is lost to the unreturned ball);
    at 17,000 (past 16,384 steps = 65,536 frames) nothing happens, paddle moving or not."""
    for fire_at, wiggle, serves in ((10_000, False, True), (17_000, False, False),
                                    (17_000, True, False)):  # fmt: skip
        pattern = [RIGHT] * 8 + [LEFT] * 8 if wiggle else [LEFT]
        env = breakout()
        env.reset()
        lost = 0
        for t in range(fire_at + 200):
            action = FIRE if t == fire_at else pattern[t % len(pattern)]
            lost += int(env.step(np.array([action], dtype=np.int64)).life_lost[0])
        env.close()
        assert (lost == 1) == serves and lost <= 1, (fire_at, wiggle, lost)
