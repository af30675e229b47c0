"""Agent steps per second of `dqn train` beside Stable-Baselines3's DQN, same run.

Both train Pong at the Nature settings (1 env, an update every 4 agent steps,
batch 32, target sync every 10k steps, Huber loss) on the same machine, in
alternating rounds, and the script prints agent steps/s end to end and in the
learning phase (after ``learning_starts``), with our/SB3 ratios. It also times
ours with N parallel envs (same replay ratio), learner-only updates/s, and
where our loop spends its time (act, env, store, sample, learn).

A throughput figure is only worth its ratio against a peer measured in the
same run on a quiet machine: the script samples the CPU time used by *other*
processes during each measurement and warns when it is more than 10% of one
core.

    python benchmarks/train_throughput.py            # 30k steps, learning from 10k, 2 rounds
    python benchmarks/train_throughput.py --quick    # 3k steps, learning from 1k, 1 round
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def cpu_ticks() -> tuple[float, float]:
    """(busy seconds of the whole machine, CPU seconds of this process and its children)."""
    with open("/proc/stat") as fh:
        fields = [float(x) for x in fh.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    busy = (sum(fields) - idle) / hz
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return busy, ours


@dataclass
class Measure:
    name: str
    end_to_end: float  # agent steps/s over the whole run
    learning: float  # agent steps/s after learning_starts
    other_cpu: float  # cores used by other processes during the run
    parts: dict[str, float] | None = None


def measured(name: str, fn: Callable[[], tuple[float, float, dict[str, float] | None]]) -> Measure:
    busy0, ours0 = cpu_ticks()
    t0 = time.perf_counter()
    e2e, learning, parts = fn()
    wall = time.perf_counter() - t0
    busy1, ours1 = cpu_ticks()
    other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
    return Measure(name, e2e, learning, other, parts)


def run_ours(
    steps: int, learning_starts: int, num_envs: int, backend: str
) -> tuple[float, float, dict[str, float]]:
    from dqn_core.config import load_config
    from dqn_core.train import Trainer

    sets = [
        "env.game=Pong",
        f"env.num_envs={num_envs}",
        f"env.backend={backend}",
        f"train.total_steps={steps}",
        f"train.learning_starts={learning_starts}",
        "replay.capacity=100000",
        "train.log_every_steps=1000",
        f"train.checkpoint_every_steps={10 * steps}",
        f"eval.every_steps={10 * steps}",
        "eval.episodes=1",
        "eval.max_steps=10",
        "tracking.mlflow=false",
        "tracking.progress=false",
    ]
    cfg = load_config("nature-dqn", sets=sets)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", quiet=True)
        trainer.run()
        rows = list(csv.DictReader((Path(tmp) / "run" / "metrics.csv").open()))
    rows = [r for r in rows if r["train/episodes"]]
    first, last = rows[0], rows[-1]
    # time_s of the first row covers setup + 1000 steps: measure from the first row on.
    e2e = (int(last["step"]) - int(first["step"])) / (
        float(last["time_s"]) - float(first["time_s"])
    )
    start = next(r for r in rows if int(r["step"]) >= learning_starts + 1000)
    learning = (int(last["step"]) - int(start["step"])) / (
        float(last["time_s"]) - float(start["time_s"])
    )
    total = sum(trainer.timers.values())
    parts = {k: v / total for k, v in trainer.timers.items()}
    return e2e, learning, parts


def run_sb3(steps: int, learning_starts: int) -> tuple[float, float, None]:
    import ale_py
    import gymnasium as gym
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gym.register_envs(ale_py)

    class Clock(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.marks: dict[int, float] = {}

        def _on_step(self) -> bool:
            if self.num_timesteps % 1000 == 0:
                self.marks[self.num_timesteps] = time.perf_counter()
            return True

    env = VecFrameStack(make_atari_env("PongNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
    model = DQN(
        "CnnPolicy",
        env,
        buffer_size=100_000,
        learning_starts=learning_starts,
        batch_size=32,
        train_freq=4,
        gradient_steps=1,
        target_update_interval=10_000,
        exploration_fraction=0.1,
        optimize_memory_usage=False,
        seed=0,
        device="cpu",
        verbose=0,
    )
    clock = Clock()
    model.learn(total_timesteps=steps, callback=clock)
    env.close()
    marks = clock.marks
    first, last = min(marks), max(marks)
    e2e = (last - first) / (marks[last] - marks[first])
    start = min(s for s in marks if s >= learning_starts + 1000)
    learning = (last - start) / (marks[last] - marks[start])
    return e2e, learning, None


def learner_updates_per_second(optimizer: str, n: int) -> float:
    import numpy as np

    from dqn_core.config import load_config
    from dqn_core.learner import Learner
    from dqn_core.replay import Batch
    from dqn_core.seeding import Seeds

    cfg = load_config("nature-dqn", sets=[f"agent.optimizer={optimizer}"])
    learner = Learner(cfg, (4, 84, 84), 6, torch.device("cpu"), Seeds(0))
    g = torch.Generator().manual_seed(0)

    batch = Batch(
        obs=torch.randint(0, 255, (32, 4, 84, 84), dtype=torch.uint8, generator=g),
        action=torch.randint(0, 6, (32,), generator=g),
        reward=torch.randn(32, generator=g),
        discount=torch.full((32,), 0.99),
        next_obs=torch.randint(0, 255, (32, 4, 84, 84), dtype=torch.uint8, generator=g),
        weight=torch.ones(32),
        indices=np.arange(32),
    )

    for _ in range(10):
        learner.update(batch)
    t0 = time.perf_counter()
    for _ in range(n):
        learner.update(batch)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="3k steps, learning from 1k, one round")
    ap.add_argument("--steps", type=int, default=30_000)
    ap.add_argument("--learning-starts", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--num-envs", type=int, default=2, help="N for the parallel-env measurement")
    ap.add_argument("--skip-sb3", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.learning_starts, args.rounds = 3_000, 1_000, 1

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, device cpu"
    )
    print(
        f"settings: Pong, nature-dqn, {args.steps} agent steps, learning from {args.learning_starts}, "
        "update every 4 steps, batch 32, replay 100k\n"
    )
    ours: list[Measure] = []
    sb3: list[Measure] = []
    for r in range(args.rounds):
        ours.append(
            measured("dqn-harness", lambda: run_ours(args.steps, args.learning_starts, 1, "python"))
        )
        print(
            f"round {r + 1}: ours  {ours[-1].end_to_end:7.1f} steps/s e2e, {ours[-1].learning:7.1f} learning"
        )
        if not args.skip_sb3:
            sb3.append(measured("sb3", lambda: run_sb3(args.steps, args.learning_starts)))
            print(
                f"round {r + 1}: SB3   {sb3[-1].end_to_end:7.1f} steps/s e2e, {sb3[-1].learning:7.1f} learning"
            )
    par = measured(
        f"dqn-harness x{args.num_envs} native",
        lambda: run_ours(args.steps, args.learning_starts, args.num_envs, "native"),
    )

    def med(ms: list[Measure], attr: str) -> float:
        return statistics.median(getattr(m, attr) for m in ms)

    print(
        "\n| configuration | agent steps/s end to end | agent steps/s learning phase | other CPU (cores) |"
    )
    print("| --- | ---: | ---: | ---: |")
    for label, ms in (
        ("dqn-harness, 1 env (python)", ours),
        ("Stable-Baselines3 DQN, 1 env", sb3),
        (f"dqn-harness, {args.num_envs} envs (native)", [par]),
    ):
        if ms:
            print(
                f"| {label} | {med(ms, 'end_to_end'):.1f} | {med(ms, 'learning'):.1f} | "
                f"{max(m.other_cpu for m in ms):.2f} |"
            )
    if sb3:
        print(
            f"\nratio ours/SB3: end to end {med(ours, 'end_to_end') / med(sb3, 'end_to_end'):.2f}x, "
            f"learning phase {med(ours, 'learning') / med(sb3, 'learning'):.2f}x"
        )
    for m in (ours[-1], par):
        if m.parts:
            print(f"time split, {m.name}: " + ", ".join(f"{k} {v:.0%}" for k, v in m.parts.items()))
    n = 30 if args.quick else 200
    for opt in ("adam", "rmsprop"):
        print(
            f"learner only ({opt}, batch 32, Nature CNN): {learner_updates_per_second(opt, n):.1f} updates/s"
        )
    busy = max([m.other_cpu for m in [*ours, *sb3, par]])
    if busy > 0.1:
        print(
            f"\nWARNING: other processes used up to {busy:.2f} cores during the measurements; "
            "the figures are not trustworthy on a busy machine."
        )


if __name__ == "__main__":
    main()
