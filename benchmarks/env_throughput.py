"""Agent steps per second of our Atari pipelines beside gymnasium's own stack, same run.

Every configuration plays the same game under the nature2015 emulator settings
(action repeat 4 with max-pooling, 84x84 grayscale INTER_AREA, stack of 4, up to
30 no-op starts, no sticky actions) with a uniformly random policy, restarting
episodes as they end, and the script prints agent steps/s (summed over envs),
emulator frames/s, agent steps per CPU-second of this process (the cost of a
step, which other load disturbs less) and both ratios to the peer:

* peer: gymnasium's ``AtariPreprocessing`` + ``FrameStackObservation`` over
  ``ALE/<Game>-v5`` with ``frameskip=1`` and ``obs_type="grayscale"`` (one env);
  the same stack over the default ``obs_type="rgb"`` is shown too;
* ours, Python stack: ``envs.make_env`` (one env) and ``make_vec_env`` with the
  python backend (2 envs);
* ours, native: ale-py's C++ ``AtariVectorEnv`` through ``make_vec_env`` with
  1 env / 1 thread, 2 envs / 2 threads, and 2 envs / 2 threads pinned to cores
  from 0 (``thread_affinity_offset=0``).

Configurations run in alternating rounds and the median round is reported. A
figure is only worth its ratio against a peer measured on a quiet machine, so
the script also reports how many cores other processes used meanwhile.

    python benchmarks/env_throughput.py              # 20k agent steps a measurement, 3 rounds
    python benchmarks/env_throughput.py --quick      # 2k agent steps, 1 round (< 1 minute)
    python benchmarks/env_throughput.py --steps 50000 --game Breakout
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import ale_py  # noqa: E402
import cv2  # noqa: E402
import gymnasium as gym  # noqa: E402
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation  # noqa: E402

from dqn_core import envs  # noqa: E402
from dqn_core.config import RunConfig, from_dict  # noqa: E402
from dqn_core.envs.games import resolve_game  # noqa: E402

gym.register_envs(ale_py)


def busy_seconds() -> float:
    """CPU-busy seconds of the whole machine since boot (from /proc/stat)."""
    with open("/proc/stat") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds used by this process, all threads (the native env's workers included)."""
    return time.process_time()


@dataclass
class Result:
    steps_per_s: float  # agent steps per wall-clock second
    steps_per_cpu_s: float  # agent steps per CPU second of this process (all its threads)
    other_cores: float  # cores used by other processes during the measurement


def measure(loop: Callable[[], int]) -> Result:
    busy0, own0, t0 = busy_seconds(), own_seconds(), time.perf_counter()
    steps = loop()
    wall = time.perf_counter() - t0
    own = own_seconds() - own0
    other = (busy_seconds() - busy0) - own
    return Result(steps / wall, steps / max(own, 1e-9), max(other, 0.0) / wall)


def single_env_loop(make: Callable[[], gym.Env], steps: int, seed: int) -> Callable[[], int]:
    """Steps one gymnasium env with random actions, resetting it at episode ends."""
    env = make()
    actions = np.random.default_rng(seed).integers(
        int(env.action_space.n),  # type: ignore[attr-defined]
        size=steps,
    )
    env.reset(seed=seed)

    def run() -> int:
        for a in actions:
            _, _, terminated, truncated, _ = env.step(int(a))
            if terminated or truncated:
                env.reset()
        env.close()
        return steps

    return run


def vec_env_loop(
    config: RunConfig, num_envs: int, steps: int, seed: int, **kw: int
) -> Callable[[], int]:
    """Steps a VecEnv (auto-reset) for ``steps`` agent steps summed over its envs."""
    vec = envs.make_vec_env(config, num_envs, seed, **kw)
    rounds = steps // num_envs
    actions = np.random.default_rng(seed).integers(vec.num_actions, size=(rounds, num_envs))
    vec.reset()

    def run() -> int:
        for a in actions:
            vec.step(a)
        vec.close()
        return rounds * num_envs

    return run


def gymnasium_peer(game_id: str, obs_type: str) -> gym.Env:
    env = gym.make(game_id, frameskip=1, repeat_action_probability=0.0, obs_type=obs_type)
    env = AtariPreprocessing(
        env,
        noop_max=30,
        frame_skip=4,
        screen_size=84,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    return FrameStackObservation(env, stack_size=4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20_000, help="agent steps a measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (median kept)")
    parser.add_argument("--game", default="Pong", help="ALE game (default Pong)")
    parser.add_argument("--quick", action="store_true", help="2,000 steps, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 2_000, 1
    if args.steps < 100 or args.rounds < 1:
        parser.error("--steps must be >= 100 and --rounds >= 1")

    game = resolve_game(args.game)
    python_cfg = from_dict({"env": {"game": game.name, "protocol": "nature2015"}})
    native_cfg = from_dict(
        {"env": {"game": game.name, "protocol": "nature2015", "backend": "native"}}
    )
    settings = envs.protocol_settings(python_cfg)
    n = args.steps
    peer = "gymnasium AtariPreprocessing+FrameStack, grayscale"
    configs: dict[str, Callable[[int], Callable[[], int]]] = {
        peer: lambda s: single_env_loop(lambda: gymnasium_peer(game.gym_id, "grayscale"), n, s),
        "gymnasium AtariPreprocessing+FrameStack, rgb (default)": lambda s: single_env_loop(
            lambda: gymnasium_peer(game.gym_id, "rgb"), n, s
        ),
        "ours python make_env, 1 env": lambda s: single_env_loop(
            lambda: envs.make_env(python_cfg, s), n, s
        ),
        "ours python make_vec_env, 2 envs": lambda s: vec_env_loop(python_cfg, 2, n, s),
        "ours native, 1 env / 1 thread": lambda s: vec_env_loop(native_cfg, 1, n, s),
        "ours native, 2 envs / 2 threads": lambda s: vec_env_loop(native_cfg, 2, n, s),
        "ours native, 2 envs / 2 threads, affinity 0": lambda s: vec_env_loop(
            native_cfg, 2, n, s, thread_affinity_offset=0
        ),
    }

    print(f"env throughput: {game.name}, {n:,} agent steps a measurement, {args.rounds} round(s)")
    print(
        f"settings: protocol {settings.protocol}, frame_skip {settings.frame_skip}, "
        f"noop_max {settings.noop_max}, sticky {settings.repeat_action_probability}, "
        f"stack {settings.frame_stack}, {settings.screen_size} {settings.resize_interpolation}"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"python {platform.python_version()}, ale-py {ale_py.__version__}, "
        f"gymnasium {gym.__version__}, numpy {np.__version__}, opencv {cv2.__version__}"
    )
    results: dict[str, list[Result]] = {name: [] for name in configs}
    for r in range(args.rounds):
        order = list(configs) if r % 2 == 0 else list(reversed(configs))
        for name in order:
            loop = configs[name](1_000 + r)  # construction and first reset are not timed
            results[name].append(measure(loop))

    base = statistics.median(x.steps_per_s for x in results[peer])
    base_cpu = statistics.median(x.steps_per_cpu_s for x in results[peer])
    width = max(len(name) for name in configs)
    print()
    print(
        f"{'configuration':<{width}}  {'steps/s':>8}  {'frames/s':>8}  {'vs peer':>7}  "
        f"{'steps/CPU-s':>11}  {'vs peer':>7}  other cores"
    )
    worst_other = 0.0
    for name, rs in results.items():
        sps = statistics.median(x.steps_per_s for x in rs)
        cpu = statistics.median(x.steps_per_cpu_s for x in rs)
        other = max(x.other_cores for x in rs)
        worst_other = max(worst_other, other)
        fps = sps * settings.frame_skip
        print(
            f"{name:<{width}}  {sps:>8,.0f}  {fps:>8,.0f}  {sps / base:>6.2f}x  "
            f"{cpu:>11,.0f}  {cpu / base_cpu:>6.2f}x  {other:>5.2f}"
        )
    print(
        "\nsteps/s: agent steps (summed over envs) per wall-clock second; steps/CPU-s: per "
        "second of this process's CPU time, all threads (the cost of a step, less disturbed "
        "by other load); frames = steps x frame_skip."
    )
    if worst_other > 0.1:
        print(
            f"\nwarning: other processes used up to {worst_other:.2f} cores during a "
            "measurement; ratios are less trustworthy than on a quiet machine"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
