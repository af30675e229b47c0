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

from dqn_core.config import COMPILE_MODES  # noqa: E402


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
    steps: int,
    learning_starts: int,
    num_envs: int,
    backend: str,
    device: str = "cpu",
    compile_mode: str = "none",
) -> tuple[float, float, dict[str, float]]:
    from dqn_core.config import load_config
    from dqn_core.run import Trainer

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
        f"train.device={device}",
        f"train.compile={compile_mode}",
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


def run_sb3(steps: int, learning_starts: int, device: str) -> tuple[float, float, None]:
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
        device=device,
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


def learner_updates_per_second(optimizer: str, n: int, device: str, compile_mode: str) -> float:
    import numpy as np

    from dqn_core.agent.learner import Learner
    from dqn_core.config import load_config
    from dqn_core.replay import Batch
    from dqn_core.seeding import Seeds

    cfg = load_config(
        "nature-dqn", sets=[f"agent.optimizer={optimizer}", f"train.compile={compile_mode}"]
    )
    dev = torch.device(device)
    learner = Learner(cfg, (4, 84, 84), 6, dev, Seeds(0))
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

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    for _ in range(10):  # warm-up (and compilation)
        learner.update(batch)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        learner.update(batch)
    sync()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="3k steps, learning from 1k, one round")
    ap.add_argument("--steps", type=int, default=30_000)
    ap.add_argument("--learning-starts", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--num-envs",
        default=None,
        help="comma-separated N for the parallel-env (native) measurements "
        "(default: 2 on the CPU; 8,32,64 on a GPU)",
    )
    ap.add_argument("--device", default="auto", help="auto (cuda if present), cpu, cuda, cuda:N")
    ap.add_argument(
        "--compile",
        default=None,
        choices=COMPILE_MODES,
        help="train.compile mode measured beside eager and used for the N-env runs "
        "('none': skip; default: 'default' on the CPU, 'reduce-overhead' (CUDA graphs) on a GPU)",
    )
    ap.add_argument("--skip-sb3", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.learning_starts, args.rounds = 3_000, 1_000, 1
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    gpu = device.startswith("cuda")
    compile_mode = args.compile or ("reduce-overhead" if gpu else "default")
    num_envs = [int(n) for n in (args.num_envs or ("8,32,64" if gpu else "2")).split(",")]

    where = torch.cuda.get_device_name(device) if gpu else "cpu"
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, device {where}"
    )
    print(
        f"settings: Pong, nature-dqn, {args.steps} agent steps, learning from "
        f"{args.learning_starts}, update every 4 agent steps (all envs together), batch 32, "
        "replay 100k\n"
    )
    ours: list[Measure] = []
    compiled: list[Measure] = []
    sb3: list[Measure] = []
    for r in range(args.rounds):
        ours.append(
            measured(
                "dqn-harness",
                lambda: run_ours(args.steps, args.learning_starts, 1, "python", device),
            )
        )
        print(
            f"round {r + 1}: ours             {ours[-1].end_to_end:7.1f} steps/s e2e, "
            f"{ours[-1].learning:7.1f} learning"
        )
        if compile_mode != "none":
            compiled.append(
                measured(
                    f"dqn-harness compile={compile_mode}",
                    lambda: run_ours(
                        args.steps, args.learning_starts, 1, "python", device, compile_mode
                    ),
                )
            )
            print(
                f"round {r + 1}: ours, compiled   {compiled[-1].end_to_end:7.1f} steps/s e2e, "
                f"{compiled[-1].learning:7.1f} learning"
            )
        if not args.skip_sb3:
            sb3.append(measured("sb3", lambda: run_sb3(args.steps, args.learning_starts, device)))
            print(
                f"round {r + 1}: SB3              {sb3[-1].end_to_end:7.1f} steps/s e2e, "
                f"{sb3[-1].learning:7.1f} learning"
            )
    par = [
        measured(
            f"dqn-harness x{n} native",
            lambda n=n: run_ours(
                args.steps, args.learning_starts, n, "native", device, compile_mode
            ),
        )
        for n in num_envs
    ]

    def med(ms: list[Measure], attr: str) -> float:
        return statistics.median(getattr(m, attr) for m in ms)

    print(
        "\n| configuration | agent steps/s end to end | agent steps/s learning phase "
        "| updates/s learning phase | other CPU (cores) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [
        ("dqn-harness, 1 env (python)", ours),
        (f"dqn-harness, 1 env (python), compile={compile_mode}", compiled),
        ("Stable-Baselines3 DQN, 1 env", sb3),
    ]
    rows += [
        (f"dqn-harness, {n} envs (native), compile={compile_mode}", [m])
        for n, m in zip(num_envs, par, strict=True)
    ]
    for label, ms in rows:
        if ms:
            print(
                f"| {label} | {med(ms, 'end_to_end'):.1f} | {med(ms, 'learning'):.1f} | "
                f"{med(ms, 'learning') / 4:.1f} | {max(m.other_cpu for m in ms):.2f} |"
            )
    if sb3:
        print(
            f"\nratio ours/SB3: end to end {med(ours, 'end_to_end') / med(sb3, 'end_to_end'):.2f}x, "
            f"learning phase {med(ours, 'learning') / med(sb3, 'learning'):.2f}x"
        )
        if compiled:
            print(
                f"ratio ours compile={compile_mode}/SB3: end to end "
                f"{med(compiled, 'end_to_end') / med(sb3, 'end_to_end'):.2f}x, learning phase "
                f"{med(compiled, 'learning') / med(sb3, 'learning'):.2f}x"
            )
    for m in (ours[-1], *compiled[-1:], *par):
        if m.parts:
            print(f"time split, {m.name}: " + ", ".join(f"{k} {v:.0%}" for k, v in m.parts.items()))
    n = 30 if args.quick else (2000 if gpu else 200)
    modes = ["none"] + ([compile_mode] if compile_mode != "none" else [])
    for opt in ("adam", "rmsprop"):
        for mode in modes:
            rate = learner_updates_per_second(opt, n, device, mode)
            print(
                f"learner only ({opt}, batch 32, Nature CNN, compile={mode}): "
                f"{rate:.1f} updates/s = {4 * rate:.0f} agent steps/s at the Nature replay ratio"
            )
    busy = max([m.other_cpu for m in [*ours, *compiled, *sb3, *par]])
    if busy > 0.1:
        print(
            f"\nWARNING: other processes used up to {busy:.2f} cores during the measurements; "
            "the figures are not trustworthy on a busy machine."
        )


if __name__ == "__main__":
    main()
