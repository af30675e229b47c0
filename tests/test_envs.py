"""Tests of dqn_core.envs: the protocols, the Python wrapper stack and the native path.

Everything runs the real ROMs shipped with ale-py. Each behaviour the Atari
protocols promise has its own test: observation format, raw vs clipped reward,
life loss without reset, FIRE at reset, no-op starts, max-pooling, the episode
frame cap, sticky actions, seeding, and the agreement of the two backends.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from dqn_core import envs
from dqn_core.config import ConfigError, RunConfig, from_dict
from dqn_core.envs import PROTOCOLS, AtariSettings, VecEnv, VecStep

DOCS = Path(__file__).resolve().parents[1] / "docs" / "protocols.md"


def atari_config(game: str = "Breakout", **env: Any) -> RunConfig:
    return from_dict({"env": {"game": game, **env}})


def cartpole_config(**env: Any) -> RunConfig:
    return from_dict(
        {"env": {"game": "CartPole-v1", "protocol": "classic", **env}, "agent": {"network": "mlp"}}
    )


def find_wrapper(env: gym.Env, cls: type) -> Any:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, cls):
            return env
        env = env.env
    raise LookupError(f"no {cls.__name__} in the stack")


def ale_of(env: gym.Env) -> Any:
    return env.unwrapped.ale  # type: ignore[attr-defined]


def run_random_episodes(
    vec: VecEnv, episodes: int, seed: int, max_steps: int = 200_000
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and lengths (frames) of the first ``episodes`` finished random-policy episodes."""
    rng = np.random.default_rng(seed)
    vec.reset()
    running = np.zeros(vec.num_envs)
    scores: list[float] = []
    lengths: list[int] = []
    for _ in range(max_steps):
        step = vec.step(rng.integers(vec.num_actions, size=vec.num_envs))
        running += step.reward
        for i in np.flatnonzero(step.episode_end):
            scores.append(running[i])
            assert step.episode_frames is not None
            lengths.append(int(step.episode_frames[i]))
            running[i] = 0.0
        if len(scores) >= episodes:
            return np.array(scores[:episodes]), np.array(lengths[:episodes])
    raise AssertionError(f"only {len(scores)} episodes ended in {max_steps} steps")


# ------------------------------------------------------------------ observations
@pytest.mark.parametrize("game", ["Breakout", "Pong"])
def test_observation_space_is_uint8_stack(game: str) -> None:
    env = envs.make_env(atari_config(game), seed=0)
    space = env.observation_space
    assert isinstance(space, gym.spaces.Box)
    assert space.shape == (4, 84, 84) and space.dtype == np.uint8
    assert space.low.min() == 0 and space.high.max() == 255
    obs, _ = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    # Zero frames before the first one; the first one is a real screen in 0..255 bytes.
    assert not obs[:3].any() and obs[3].max() > 1
    obs, *_ = env.step(0)
    assert obs.dtype == np.uint8 and obs[3].max() > 1
    env.close()


@pytest.mark.parametrize("backend", ["python", "native"])
def test_vec_env_shapes_and_dtypes(backend: str) -> None:
    with envs.make_vec_env(atari_config("Pong", backend=backend), 2, seed=1) as vec:
        assert (vec.num_envs, vec.num_actions, vec.obs_shape) == (2, 6, (4, 84, 84))
        assert vec.obs_dtype == np.uint8 and vec.frames_per_step == 4
        obs = vec.reset()
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        step = vec.step(np.array([0, 1]))
        assert step.next_obs.shape == step.obs.shape == (2, 4, 84, 84)
        assert step.reward.dtype == np.float32
        for flag in (step.terminated, step.truncated, step.life_lost):
            assert flag.dtype == np.bool_ and flag.shape == (2,)


def test_cartpole_vec_env_and_time_limit_truncation() -> None:
    with envs.make_vec_env(cartpole_config(max_episode_frames=12), 3, seed=0) as vec:
        assert vec.obs_shape == (4,) and vec.obs_dtype == np.float32 and vec.num_actions == 2
        obs = vec.reset()
        assert obs.shape == (3, 4) and obs.dtype == np.float32
        # Alternating pushes keep the pole up past 12 steps: the time limit truncates.
        for t in range(12):
            step = vec.step(np.full(3, t % 2))
        assert step.truncated.all() and not step.terminated.any()
        assert step.episode_frames is not None and (step.episode_frames == 12).all()
        assert not np.array_equal(step.obs, step.next_obs)  # auto-reset happened


def test_actions_are_validated() -> None:
    with envs.make_vec_env(atari_config("Breakout"), 2, seed=0) as vec:
        vec.reset()
        with pytest.raises(ValueError, match="actions"):
            vec.step(np.array([0, 4]))
        with pytest.raises(ValueError, match="actions"):
            vec.step(np.array([0.0, 1.0]))
        with pytest.raises(ValueError, match="actions"):
            vec.step(np.array([0]))


def test_action_sets() -> None:
    assert envs.action_meanings(atari_config("Breakout")) == ["NOOP", "FIRE", "RIGHT", "LEFT"]
    assert envs.num_actions(atari_config("Breakout", full_action_space=True)) == 18
    assert envs.num_actions(cartpole_config()) == 2


# ----------------------------------------------------------------------- rewards
def test_rewards_are_raw_and_clip_reward_takes_the_sign() -> None:
    # Space Invaders pays 5-30 points an invader, so raw and clipped differ at once.
    env = envs.make_env(atari_config("SpaceInvaders"), seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    raw: list[float] = []
    while len(raw) < 5:
        _, reward, terminated, truncated, _ = env.step(int(rng.integers(6)))
        if reward:
            raw.append(float(reward))
        assert not (terminated or truncated)
    assert max(raw) > 1.0
    assert [envs.clip_reward(r) for r in raw] == [1.0] * len(raw)
    assert sum(raw) > sum(envs.clip_reward(r) for r in raw)
    clipped = envs.clip_reward(np.array([-7.0, 0.0, 0.5, 30.0]))
    assert clipped.dtype == np.float32 and clipped.tolist() == [-1.0, 0.0, 1.0, 1.0]
    env.close()


# ------------------------------------------------------------------- life loss
def test_life_loss_is_reported_without_resetting_the_game() -> None:
    # nature2015 presses FIRE at reset, so the ball is in play; NOOP lets it through.
    with envs.make_vec_env(atari_config("Breakout"), 1, seed=3) as vec:
        vec.reset()
        lives_seen = []
        for _ in range(400):
            step = vec.step(np.zeros(1, dtype=np.int64))
            assert step.lives is not None and step.episode_frames is not None
            lives_seen.append(int(step.lives[0]))
            if step.life_lost[0]:
                break
        else:
            raise AssertionError("no life lost in 400 NOOP steps")
        assert lives_seen[0] == 5 and lives_seen[-1] == 4
        assert not step.terminated[0] and not step.truncated[0]
        assert np.array_equal(step.obs, step.next_obs)  # no reset
        assert vec.learning_terminal(step)[0]  # training: a lost life cuts bootstrapping
        frames = int(step.episode_frames[0])
        after = vec.step(np.ones(1, dtype=np.int64))
        assert after.lives is not None and after.episode_frames is not None
        assert int(after.lives[0]) == 4 and not after.life_lost[0]
        assert int(after.episode_frames[0]) == frames + 4  # the same game goes on
        assert np.array_equal(after.next_obs[0, :3], step.next_obs[0, 1:])  # stack continues


@pytest.mark.parametrize("evaluation", [False, True])
def test_stack_reset_on_life_loss_zeroes_the_older_frames(evaluation: bool) -> None:
    """Dopamine's Atari-100k stacks: after a lost life, one real frame and zeros,
    then the stack fills again; the game and its lives go on (training and
    evaluation alike)."""
    config = atari_config("Breakout", stack_reset_on_life_loss=True)
    with envs.make_vec_env(config, 1, seed=3, evaluation=evaluation) as vec:
        vec.reset()
        for _ in range(400):
            step = vec.step(np.zeros(1, dtype=np.int64))
            if step.life_lost[0]:
                break
        else:
            raise AssertionError("no life lost in 400 NOOP steps")
        assert not step.episode_end[0] and step.lives is not None and int(step.lives[0]) == 4
        assert (step.obs[0, :3] == 0).all() and step.obs[0, 3].any()
        # next_obs is the step's real final stack, as at an episode end.
        assert step.next_obs[0, :3].any() and np.array_equal(step.next_obs[0, 3], step.obs[0, 3])
        assert vec.stream_break(step)[0]
        after = vec.step(np.zeros(1, dtype=np.int64))
        assert (after.obs[0, :2] == 0).all() and np.array_equal(after.obs[0, 2], step.obs[0, 3])
        assert not vec.stream_break(after)[0]
        # The last life: the game ends, next_obs is the real final stack (not reset).
        rng = np.random.default_rng(0)
        for _ in range(5000):
            step = vec.step(rng.integers(0, vec.num_actions, size=1))
            if step.terminated[0]:
                break
        else:
            raise AssertionError("Breakout did not end in 5,000 random steps")
        assert step.life_lost[0] and step.next_obs[0, :3].any() and vec.stream_break(step)[0]
        assert not np.array_equal(step.obs[0, 3], step.next_obs[0, 3])  # a new game's frame
    with pytest.raises(ConfigError, match="stack_reset_on_life_loss: the native backend"):
        envs.make_vec_env(atari_config(backend="native", stack_reset_on_life_loss=True), 1, 0)
    with pytest.raises(ConfigError, match="stack_reset_on_life_loss: only applies to Atari"):
        envs.make_vec_env(cartpole_config(stack_reset_on_life_loss=False), 1, 0)


def test_life_loss_is_never_terminal_for_evaluation_or_machado() -> None:
    step = VecStep(
        next_obs=np.zeros((1, 1)),
        obs=np.zeros((1, 1)),
        reward=np.zeros(1, np.float32),
        terminated=np.array([False]),
        truncated=np.array([False]),
        life_lost=np.array([True]),
    )
    for config, evaluation, expected in [
        (atari_config(), False, True),
        (atari_config(), True, False),
        (atari_config(protocol="machado2018"), False, False),
        (atari_config(protocol="machado2018", terminal_on_life_loss=True), False, True),
    ]:
        with envs.make_vec_env(config, 1, seed=0, evaluation=evaluation) as vec:
            assert vec.learning_terminal(step)[0] == expected, (config.env, evaluation)


# ------------------------------------------------------------------ reset logic
@pytest.mark.parametrize("protocol", ["nature2015", "machado2018"])
def test_fire_reset_launches_the_ball(protocol: str) -> None:
    # Breakout waits for FIRE: with fire_reset a NOOP-only policy soon loses a
    # life; without it (machado2018) nothing happens for 2,000 frames.
    env = envs.make_env(atari_config("Breakout", protocol=protocol), seed=0)
    _, info = env.reset()
    assert info.get("fire_reset", False) == PROTOCOLS[protocol].fire_reset
    lost = False
    for _ in range(500):
        _, _, terminated, truncated, info = env.step(0)
        lost = lost or info["life_lost"]
        assert not (terminated or truncated)
    assert lost == PROTOCOLS[protocol].fire_reset
    env.close()


def test_fire_reset_skips_games_without_fire() -> None:
    env = envs.make_env(atari_config("Freeway"), seed=0)
    assert "FIRE" not in env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
    _, info = env.reset()
    assert "fire_reset" not in info and info["episode_frame_number"] == info["noops"]
    env.close()


def test_noop_starts_are_in_range_and_seeded() -> None:
    def counts(seed: int) -> list[int]:
        env = envs.make_env(atari_config("Breakout"), seed=seed)
        out = []
        for _ in range(15):
            _, info = env.reset()
            # The ALE counts every reset frame: the no-ops plus one FIRE frame.
            assert info["episode_frame_number"] == info["noops"] + 1
            out.append(info["noops"])
        env.close()
        return out

    first = counts(11)
    assert all(1 <= n <= 30 for n in first)
    assert len(set(first)) > 4
    assert counts(11) == first
    assert counts(12) != first


def test_no_noop_starts_under_machado() -> None:
    env = envs.make_env(atari_config("Pong", protocol="machado2018"), seed=0)
    for _ in range(3):
        _, info = env.reset()
        assert info["noops"] == 0 and info["episode_frame_number"] == 0
    env.close()


# --------------------------------------------------------- action repeat and pooling
class RecordingALE:
    """An ALE proxy that records the grayscale screen after every emulator frame."""

    def __init__(self, ale: Any) -> None:
        self._ale = ale
        self.frames: list[np.ndarray] = []

    def act(self, action: Any, *args: Any) -> int:
        reward = self._ale.act(action, *args)
        self.frames.append(self._ale.getScreenGrayscale())
        return int(reward)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ale, name)


def test_observation_is_the_max_of_the_last_two_raw_frames() -> None:
    env = envs.make_env(atari_config("Breakout", protocol="machado2018"), seed=0)
    obs, _ = env.reset()
    repeat = find_wrapper(env, envs.MaxPoolActionRepeat)
    recorder = RecordingALE(repeat._ale)
    repeat._ale = recorder
    rng = np.random.default_rng(0)
    pooled_differs = 0
    for _ in range(60):
        recorder.frames.clear()
        previous = obs
        obs, _, terminated, truncated, _ = env.step(int(rng.integers(4)))
        assert not (terminated or truncated)
        assert len(recorder.frames) == 4  # action repeat: four emulator frames
        expected = np.maximum(recorder.frames[-2], recorder.frames[-1])
        resized = cv2.resize(expected, (84, 84), interpolation=cv2.INTER_AREA)
        assert np.array_equal(obs[-1], resized)
        assert np.array_equal(obs[:-1], previous[1:])  # the stack shifts by one
        pooled_differs += not np.array_equal(expected, recorder.frames[-1])
    assert pooled_differs > 0  # the ball moves, so pooling is not a no-op here
    env.close()


@pytest.mark.parametrize("seed", [4, 5, 8])
def test_terminal_observation_uses_only_frames_read(seed: int) -> None:
    """At a game over inside a step the final frame is pooled with the frame before
    it when that frame was read (the previous step's last, or one of the step's
    last two), and stands alone otherwise. With ale-py 0.12 these seeds end the
    game on the 4th, 3rd and 1st frame of a step: all three cases."""
    env = envs.make_env(atari_config("Breakout", protocol="machado2018"), seed=seed)
    env.reset()
    repeat = find_wrapper(env, envs.MaxPoolActionRepeat)
    recorder = RecordingALE(repeat._ale)
    repeat._ale = recorder
    rng = np.random.default_rng(1)
    for _ in range(5_000):
        previous_last = recorder.frames[-1] if recorder.frames else None
        recorder.frames.clear()
        obs, _, terminated, _, _ = env.step(int(rng.integers(4)))
        if terminated:
            break
    else:
        raise AssertionError("no game over in 5,000 steps")
    final = len(recorder.frames) - 1  # index of the game-over frame within the step
    if final == 0:
        expected = np.maximum(previous_last, recorder.frames[0])
    elif final == 3:
        expected = np.maximum(recorder.frames[2], recorder.frames[3])
    else:
        expected = recorder.frames[final]
    resized = cv2.resize(expected, (84, 84), interpolation=cv2.INTER_AREA)
    assert np.array_equal(obs[-1], resized)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.close()


class LivesRecordingALE(RecordingALE):
    """RecordingALE that also records the lives after every emulator frame."""

    def __init__(self, ale: Any) -> None:
        super().__init__(ale)
        self.lives_after: list[int] = []

    def act(self, action: Any, *args: Any) -> int:
        reward = super().act(action, *args)
        self.lives_after.append(int(self._ale.lives()))
        return reward


@pytest.mark.parametrize("seed", [0, 4])
def test_step_ends_at_life_loss_before_reading_that_frame(seed: int) -> None:
    """Dopamine's AtariPreprocessing of 2021 with terminal_on_life_loss: a lost life
    stops the step at its frame, whose screen is not read, so the observation pools
    the two frames read last. With ale-py 0.12 these seeds lose lives on the 4th
    (seed 0) and on the 2nd, 1st and 3rd (seed 4) frame of a step: every case."""
    config = atari_config("Breakout", step_ends_at_life_loss=True)
    env = envs.make_env(config, seed=seed)
    env.reset()
    repeat = find_wrapper(env, envs.MaxPoolActionRepeat)
    assert repeat.stop_at_life_loss
    recorder = LivesRecordingALE(repeat._ale)
    repeat._ale = recorder
    rng = np.random.default_rng(seed)
    read: list[np.ndarray] = []  # the frames the wrapper pools from, in order
    lives = int(ale_of(env).lives())
    cut_at: list[int] = []
    for _ in range(3_000):
        recorder.frames.clear()
        recorder.lives_after.clear()
        obs, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        if terminated or truncated:
            break
        n = len(recorder.frames)
        if info["life_lost"]:
            # The step stopped at the first frame with fewer lives, and read nothing there.
            after = recorder.lives_after
            assert after[-1] < lives and all(v >= lives for v in after[:-1])
            cut_at.append(n)
            read.extend(recorder.frames[2 : n - 1])
        else:
            assert n == 4
            read.extend(recorder.frames[2:])
        expected = np.maximum(read[-2], read[-1])
        resized = cv2.resize(expected, (84, 84), interpolation=cv2.INTER_AREA)
        assert np.array_equal(obs[-1], resized)
        lives = recorder.lives_after[-1]
    else:
        raise AssertionError("Breakout did not end in 3,000 random steps")
    assert cut_at == {0: [4, 1, 1, 1], 4: [2, 1, 1, 3]}[seed]
    env.close()


def test_step_ends_at_life_loss_applies_to_evaluation_and_needs_python() -> None:
    config = atari_config("Breakout", step_ends_at_life_loss=True)
    env = envs.make_env(config, seed=0, evaluation=True)
    assert find_wrapper(env, envs.MaxPoolActionRepeat).stop_at_life_loss
    env.close()
    env = envs.make_env(atari_config("Breakout"), seed=0)
    assert not find_wrapper(env, envs.MaxPoolActionRepeat).stop_at_life_loss
    env.close()
    with pytest.raises(ConfigError, match="step_ends_at_life_loss: the native backend"):
        envs.make_vec_env(atari_config(backend="native", step_ends_at_life_loss=True), 1, 0)
    with pytest.raises(ConfigError, match="step_ends_at_life_loss: only applies to Atari"):
        envs.make_vec_env(cartpole_config(step_ends_at_life_loss=False), 1, 0)


# ------------------------------------------------------------------ episode cap
def test_default_episode_cap_is_108k_frames() -> None:
    for name in ("nature2015", "machado2018", "atari100k"):
        assert PROTOCOLS[name].max_episode_frames == 108_000
        assert envs.protocol_settings(atari_config(protocol=name)).max_episode_frames == 108_000
    env = envs.make_env(atari_config("Pong"), seed=0)
    assert ale_of(env).getInt("max_num_frames_per_episode") == 108_000
    env.close()


def test_frame_cap_truncates_exactly() -> None:
    # 121 frames is not a multiple of the action repeat: the last step is shortened.
    env = envs.make_env(atari_config("Pong", max_episode_frames=121), seed=2)
    for _ in range(3):
        _, info = env.reset()
        frames = info["episode_frame_number"]
        while True:
            _, _, terminated, truncated, info = env.step(0)
            assert info["episode_frame_number"] - frames in (1, 2, 3, 4)
            frames = info["episode_frame_number"]
            if terminated or truncated:
                break
        assert truncated and not terminated and frames == 121
    env.close()


def test_native_frame_cap_truncates() -> None:
    config = atari_config("Pong", backend="native", max_episode_frames=121)
    with envs.make_vec_env(config, 2, seed=0) as vec:
        vec.reset()
        ended = 0
        for _ in range(70):
            step = vec.step(np.zeros(2, dtype=np.int64))
            assert not step.terminated.any()
            if step.truncated.any():
                assert step.episode_frames is not None
                frames = step.episode_frames[step.truncated]
                # Checked after each agent step: at most frame_skip - 1 frames over.
                assert ((frames >= 121) & (frames <= 124)).all()
                ended += int(step.truncated.sum())
        assert ended >= 4


def test_cap_too_short_for_the_reset_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"env\.max_episode_frames"):
        envs.protocol_settings(atari_config(max_episode_frames=30))


# ---------------------------------------------------------------- sticky actions
def test_sticky_actions_only_under_machado() -> None:
    sticky = {name: s.repeat_action_probability for name, s in PROTOCOLS.items()}
    assert sticky == {"nature2015": 0.0, "machado2018": 0.25, "atari100k": 0.0, "classic": 0.0}

    def trajectory(
        protocol: str, seed: int, game: str = "Breakout", **overrides: Any
    ) -> np.ndarray:
        env = envs.make_env(atari_config(game, protocol=protocol, **overrides), seed=seed)
        assert ale_of(env).getFloat("repeat_action_probability") == pytest.approx(
            PROTOCOLS[protocol].repeat_action_probability
        )
        obs, _ = env.reset()
        actions = np.random.default_rng(0).integers(4, size=150)
        frames = [obs]
        for a in actions:
            obs, *_ = env.step(int(a))
            frames.append(obs)
        env.close()
        return np.stack(frames)

    # Deterministic emulator (no sticky actions, no no-op starts): the seed is irrelevant.
    assert np.array_equal(
        trajectory("atari100k", 1, noop_max=0), trajectory("atari100k", 2, noop_max=0)
    )
    # atari100k's no-op starts (Dopamine's) make the seed matter where the game moves
    # from its first frame (Breakout waits for FIRE, so its start is one picture).
    assert not np.array_equal(
        trajectory("atari100k", 1, "Pong"), trajectory("atari100k", 2, "Pong")
    )
    # Sticky actions: the same actions play out differently under different seeds.
    assert not np.array_equal(trajectory("machado2018", 1), trajectory("machado2018", 2))


# ----------------------------------------------------------------------- seeding
@pytest.mark.parametrize("backend", ["python", "native"])
def test_same_seed_same_first_1000_observations(backend: str) -> None:
    def observations(seed: int, steps: int) -> np.ndarray:
        config = atari_config("Breakout", backend=backend)
        with envs.make_vec_env(config, 1, seed=seed) as vec:
            out = np.empty((steps + 1, 4, 84, 84), dtype=np.uint8)
            out[0] = vec.reset()[0]
            actions = np.random.default_rng(99).integers(4, size=steps)
            for t, a in enumerate(actions, start=1):
                out[t] = vec.step(np.array([a])).obs[0]
        return out

    first = observations(7, 1000)
    assert np.array_equal(observations(7, 1000), first)
    # Another seed starts after another number of no-ops: the streams differ at once.
    assert not np.array_equal(observations(8, 100), first[:101])


def test_env_seeds_are_distinct_and_stable() -> None:
    seeds = envs.env_seeds(5, 8)
    assert len(set(seeds)) == 8 and seeds == envs.env_seeds(5, 8)
    assert all(0 <= s < 2**31 for s in seeds)


# ------------------------------------------------------ python vs native backends
@pytest.mark.parametrize(("game", "steps"), [("Breakout", 600), ("Pong", 1000)])
def test_backends_agree_exactly_without_noop_starts(game: str, steps: int) -> None:
    """With no no-op starts the two backends are the same emulator run.

    machado2018 (sticky actions p=0.25, no no-ops), 2 envs, same seed and the
    same random actions: every observation, reward, life-loss flag, lives count
    and frame count is identical, across episode ends and auto-resets; the one
    documented difference is the final observation of a game that ends inside
    an action repeat (docs/protocols.md, "Backends").
    """
    vecs = [
        envs.make_vec_env(atari_config(game, protocol="machado2018", backend=b), 2, seed=3)
        for b in ("python", "native")
    ]
    py, nat = vecs
    assert (py.num_actions, py.action_meanings) == (nat.num_actions, nat.action_meanings)
    assert (py.obs_shape, py.obs_dtype) == (nat.obs_shape, nat.obs_dtype)
    assert np.array_equal(py.reset(), nat.reset())
    rng = np.random.default_rng(0)
    episodes = 0
    for _ in range(steps):
        actions = rng.integers(py.num_actions, size=2)
        a, b = py.step(actions), nat.step(actions)
        live = ~a.episode_end
        assert np.array_equal(a.next_obs[live], b.next_obs[live])
        assert np.array_equal(a.obs, b.obs)
        for name in ("reward", "terminated", "truncated", "life_lost", "lives", "episode_frames"):
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
        episodes += int(a.episode_end.sum())
    assert episodes >= 2
    for vec in vecs:
        vec.close()


def _score_distributions(game: str, episodes: int) -> tuple[Any, Any, Any, Any]:
    samples = []
    for backend in ("python", "native"):
        with envs.make_vec_env(atari_config(game, backend=backend), 2, seed=21) as vec:
            samples.append(run_random_episodes(vec, episodes, seed=5))
    (s_py, l_py), (s_nat, l_nat) = samples
    return s_py, s_nat, l_py, l_nat


def test_backends_agree_in_distribution_with_noop_starts() -> None:
    """Random-policy Breakout under nature2015 (no-op starts, whose draws differ by backend).

    Test: two-sided Mann-Whitney U on 24 episode scores and on 24 episode
    lengths (frames) per backend, fixed seeds; each must have p > 0.01, and the
    mean scores must be within 1 point (random Breakout averages about 1.5).
    """
    s_py, s_nat, l_py, l_nat = _score_distributions("Breakout", 24)
    assert stats.mannwhitneyu(s_py, s_nat).pvalue > 0.01
    assert stats.mannwhitneyu(l_py, l_nat).pvalue > 0.01
    assert abs(s_py.mean() - s_nat.mean()) < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("game", ["Breakout", "SpaceInvaders"])
def test_backends_agree_in_distribution_many_episodes(game: str) -> None:
    """As above with 200 episodes a backend: two-sample Kolmogorov-Smirnov and
    Mann-Whitney U on scores and lengths, each p > 0.01."""
    s_py, s_nat, l_py, l_nat = _score_distributions(game, 200)
    for x, y in ((s_py, s_nat), (l_py, l_nat)):
        assert stats.ks_2samp(x, y).pvalue > 0.01
        assert stats.mannwhitneyu(x, y).pvalue > 0.01


# -------------------------------------------------------------- protocol settings
def test_protocol_settings_apply_overrides() -> None:
    base = envs.protocol_settings(atari_config())
    assert base == dataclasses.replace(PROTOCOLS["nature2015"], eval_epsilon=0.05)
    config = atari_config(
        protocol="machado2018",
        repeat_action_probability=0.1,
        noop_max=5,
        terminal_on_life_loss=True,
        max_episode_frames=18_000,
        full_action_space=True,
        frame_skip=3,
    )
    s = envs.protocol_settings(config)
    assert (s.repeat_action_probability, s.noop_max, s.terminal_on_life_loss) == (0.1, 5, True)
    assert (s.max_episode_frames, s.full_action_space, s.frame_skip) == (18_000, True, 3)
    assert envs.protocol_settings(config, evaluation=True).terminal_on_life_loss is False
    deviations = envs.protocol_deviations(config)
    assert deviations["repeat_action_probability"] == (0.25, 0.1)
    assert "fire_reset" not in deviations
    assert envs.protocol_deviations(atari_config(protocol="atari100k")) == {
        "eval_epsilon": (0.001, 0.05)
    }


def test_classic_rejects_atari_overrides() -> None:
    with pytest.raises(ConfigError, match=r"env\.noop_max"):
        envs.protocol_settings(cartpole_config(noop_max=3))
    with pytest.raises(ConfigError, match=r"env\.game"):
        envs.make_vec_env(cartpole_config(game="Pong"), 1, seed=0)


def test_unknown_game_fails_before_building() -> None:
    with pytest.raises(ConfigError, match="did you mean Pong"):
        envs.make_env(atari_config("Pnog"), seed=0)


def _parse_settings_table(text: str) -> dict[str, dict[str, Any]]:
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    table: dict[str, dict[str, Any]] = {}
    for line in rows[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = cells[0].strip("`")
        values = {}
        for column, cell in zip(header[1:], cells[1:], strict=True):
            if column not in PROTOCOLS:
                continue
            raw = re.sub(r"^`(.*)`$", r"\1", cell)
            try:
                values[column] = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                values[column] = raw
        table[name] = values
    return table


def test_docs_settings_table_matches_the_protocols() -> None:
    table = _parse_settings_table(DOCS.read_text())
    fields = {f.name for f in dataclasses.fields(AtariSettings)} - {"protocol", "citation"}
    assert set(table) == fields
    for name, values in table.items():
        assert set(values) == set(PROTOCOLS), name
        for protocol, value in values.items():
            actual = getattr(PROTOCOLS[protocol], name)
            assert value == actual and type(value) is type(actual), (name, protocol, value)


def test_docs_name_every_protocol_and_its_citation() -> None:
    text = DOCS.read_text()
    for name, settings in PROTOCOLS.items():
        assert f"`{name}`" in text
        author_year = re.match(r"([A-Z][a-z]+)\b.*?(\d{4})", settings.citation)
        assert author_year is not None
        assert author_year.group(1) in text and author_year.group(2) in text
