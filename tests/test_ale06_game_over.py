"""``env.ale06_game_over``: ChopperCommand ended as ALE 0.6 (atari-py) ended it.

ALE 0.6 ends ChopperCommand at the last life only if the chopper faces right
(console RAM 0xC2 == 1); lost facing left, the episode ran on to the cap. Real
ROM and emulator (ale-py); random actions from fixed seeds. That ALE 0.6 itself
behaves so is checked against atari-py's emulator in
``results/probes/chopper-ale06/`` (it needs atari-py built from source).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dqn_core.config import ConfigError, RunConfig, from_dict
from dqn_core.envs import make_env, make_vec_env
from dqn_core.experiment import load_run_config

REPO = Path(__file__).resolve().parents[1]

CAP = 24_000  # emulator frames: short, so a frozen tail is a few thousand steps


def chopper(**env: Any) -> RunConfig:
    return from_dict(
        {
            "env": {
                "game": "ChopperCommand",
                "protocol": "atari100k",
                "max_episode_frames": CAP,
                **env,
            }
        }
    )


def episode(config: RunConfig, seed: int) -> tuple[list[tuple[Any, ...]], int]:
    """Every step of one random-action episode: (obs, reward, terminated, truncated, info); and RAM 0xC2 at the end."""
    env = make_env(config, seed=seed)
    rng = np.random.default_rng(seed)
    obs, info = env.reset()
    steps: list[tuple[Any, ...]] = [(obs, 0.0, False, False, info)]
    while not (steps[-1][2] or steps[-1][3]):
        steps.append(env.step(int(rng.integers(env.action_space.n))))  # type: ignore[attr-defined]
    facing = int(env.unwrapped.ale.getRAM()[0xC2 - 0x80])  # type: ignore[attr-defined]
    env.close()
    return steps, facing


@pytest.fixture(scope="module")
def left_and_right() -> dict[int, int]:
    """A seed whose random episode ends with the chopper facing left (0) and one facing right (1)."""
    found: dict[int, int] = {}
    for seed in range(40):
        steps, facing = episode(chopper(), seed)
        assert steps[-1][2], "a random ChopperCommand episode ends by game over well before the cap"
        found.setdefault(facing, seed)
        if len(found) == 2:
            return found
    pytest.fail(f"no random episode ended facing {'left' if 0 not in found else 'right'} in 40")


def test_a_game_lost_facing_left_runs_on_frozen_to_the_cap(left_and_right: dict[int, int]) -> None:
    seed = left_and_right[0]
    ours, _ = episode(chopper(), seed)
    old, _ = episode(chopper(ale06_game_over=True), seed)
    end = len(ours) - 1  # the step where ale-py's game ended
    for a, b in zip(ours[:end], old[:end], strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
    # at ale-py's game over: the same frame and reward, but the episode goes on
    np.testing.assert_array_equal(ours[end][0], old[end][0])
    assert ours[end][1] == old[end][1] and ours[end][2] and not old[end][2] and not old[end][3]
    frozen = old[end + 1 :]
    assert frozen, "the episode must run on after the last life"
    assert all(r == 0.0 and not t for _, r, t, _, _ in frozen)
    for obs, *_ in frozen:  # the newest frame is the last screen, again and again
        np.testing.assert_array_equal(obs[-1], frozen[0][0][-1])
    for obs, *_ in frozen[3:]:  # once the stack holds it four times, nothing moves
        np.testing.assert_array_equal(obs, frozen[3][0])
    assert [s[3] for s in frozen] == [False] * (len(frozen) - 1) + [True]
    assert frozen[-1][4]["episode_frame_number"] == CAP
    frames = [s[4]["episode_frame_number"] for s in old[end:]]
    assert all(0 < b - a <= 4 for a, b in itertools.pairwise(frames))
    assert sum(s[1] for s in old) == sum(s[1] for s in ours)  # the score is the same


def test_a_game_lost_facing_right_ends_as_in_ale_py(left_and_right: dict[int, int]) -> None:
    seed = left_and_right[1]
    ours, _ = episode(chopper(), seed)
    old, _ = episode(chopper(ale06_game_over=True), seed)
    assert len(old) == len(ours) and old[-1][2] and not old[-1][3]
    for a, b in zip(ours, old, strict=True):
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]


def test_a_frozen_episode_resets_and_refuses_steps_past_its_cap(
    left_and_right: dict[int, int],
) -> None:
    seed = left_and_right[0]
    env = make_env(chopper(ale06_game_over=True), seed=seed)
    rng = np.random.default_rng(seed)
    env.reset()
    truncated = False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))  # type: ignore[attr-defined]
        assert not terminated
    with pytest.raises(RuntimeError, match="frame cap"):
        env.step(0)
    _, info = env.reset()
    assert info["episode_frame_number"] < 100 and info["lives"] == 3
    _, _, terminated, truncated, info = env.step(0)
    assert not (terminated or truncated) and info["episode_frame_number"] < 200
    env.close()


def test_the_setting_is_chopper_command_only_python_only_and_out_of_the_hash() -> None:
    with pytest.raises(ConfigError, match="only ChopperCommand's end differs"):
        make_env(from_dict({"env": {"game": "Pong", "ale06_game_over": True}}), seed=0)
    with pytest.raises(ConfigError, match="ale06_game_over: the native backend"):
        make_vec_env(chopper(ale06_game_over=True, backend="native"), 1, 0)
    cartpole = {"game": "CartPole-v1", "protocol": "classic", "ale06_game_over": True}
    with pytest.raises(ConfigError, match="ale06_game_over: only applies to ChopperCommand"):
        make_env(from_dict({"env": cartpole, "agent": {"network": "mlp"}}), seed=0)
    # off (the default), a run made before the setting existed keeps its recorded hash
    run = REPO / "results" / "atari100k-drq" / "runs" / "drq-eps" / "ChopperCommand" / "seed0"
    assert "ale06_game_over" not in (run / "config.yaml").read_text()
    recorded = json.loads((run / "summary.json").read_text())["config_hash"]
    assert load_run_config(run / "config.yaml").config_hash() == recorded
    assert chopper().config_hash() != chopper(ale06_game_over=True).config_hash()
