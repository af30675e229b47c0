"""Does overlapping acting with learning pay on this machine? Sequential vs threaded.

`dqn train` runs acting and learning in one thread: every 4 agent steps it
samples a batch and runs the update before stepping the env again. The usual
alternative overlaps them: the update runs in a worker thread while the main
thread steps the env (acting with the weights from before the update in
flight). This script measures both with the real components (Pong through
`dqn_core.envs`, the frame-deduplicated replay, the Nature-DQN learner, an
update every 4 agent steps, batch 32) in alternating rounds and prints agent
steps/s and the overlapped/sequential ratio.

The overlap only pays when the env, the learner and their threads have cores
(or a GPU) to themselves: ale-py's ``act`` holds the GIL, and torch's intra-op
threads already use every core. Each measurement runs in a fresh process:
once a second thread has run torch ops, OpenMP keeps a second team of
threads for it, and the sequential loop in that process runs about a third
slower. The script records the CPU used by other processes and warns when
the figures are not trustworthy.

    python benchmarks/overlap.py            # 3 rounds of 1,600 agent steps each way
    python benchmarks/overlap.py --quick    # 1 round of 400
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from train_throughput import cpu_ticks  # noqa: E402

from dqn_core.agent.learner import Learner  # noqa: E402
from dqn_core.config import load_config  # noqa: E402
from dqn_core.envs import make_vec_env  # noqa: E402
from dqn_core.replay import make_replay  # noqa: E402
from dqn_core.seeding import Seeds  # noqa: E402

TRAIN_FREQUENCY = 4
BATCH = 32
MODES = ("sequential", "overlapped")


class Loop:
    """Env, replay and learner at the Nature settings, warmed up with random steps."""

    def __init__(self, backend: str, warmup: int) -> None:
        cfg = load_config(
            "nature-dqn", sets=["env.game=Pong", f"env.backend={backend}", "replay.capacity=20000"]
        )
        self.env = make_vec_env(cfg, 1, 0)
        self.learner = Learner(
            cfg, self.env.obs_shape, self.env.num_actions, torch.device("cpu"), Seeds(0)
        )
        self.replay = make_replay(
            cfg,
            self.env.obs_shape,
            self.env.obs_dtype,
            1,
            np.random.default_rng(0),
            torch.device("cpu"),
        )
        self.rng = np.random.default_rng(1)
        self.obs = self.env.reset()
        for _ in range(warmup):
            self.step(1.0)

    def step(self, epsilon: float = 0.5) -> None:
        actions = self.learner.act(self.obs, epsilon, self.rng)
        out = self.env.step(actions)
        self.replay.add(
            self.obs,
            actions,
            out.reward,
            out.terminated,
            out.terminated | out.truncated,
            out.next_obs,
        )
        self.obs = out.obs

    def sequential(self, updates: int) -> float:
        """Agent steps/s: 4 env steps, then sample + update, in one thread."""
        t0 = time.perf_counter()
        for _ in range(updates):
            for _ in range(TRAIN_FREQUENCY):
                self.step()
            self.learner.update(self.replay.sample(BATCH))
        return updates * TRAIN_FREQUENCY / (time.perf_counter() - t0)

    def overlapped(self, updates: int, pool: ThreadPoolExecutor) -> float:
        """Agent steps/s: the update runs in a worker while the main thread steps the env.

        Acting reads the online weights while the worker changes them: fine for a
        timing (the work is the same), not for training, which would act from a copy.
        """
        t0 = time.perf_counter()
        pending: Future[object] | None = None
        for _ in range(updates):
            if pending is not None:
                pending.result()
            pending = pool.submit(self.learner.update, self.replay.sample(BATCH))
            for _ in range(TRAIN_FREQUENCY):
                self.step()
        if pending is not None:
            pending.result()
        return updates * TRAIN_FREQUENCY / (time.perf_counter() - t0)

    def close(self) -> None:
        self.env.close()


def measure(mode: str, backend: str, steps: int) -> float:
    """Agent steps/s of one mode, in this process (called in a fresh subprocess)."""
    updates = max(1, steps // TRAIN_FREQUENCY)
    loop = Loop(backend, warmup=2000)
    try:
        if mode == "sequential":
            return loop.sequential(updates)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="learner") as pool:
            return loop.overlapped(updates, pool)
    finally:
        loop.close()


def in_subprocess(mode: str, backend: str, steps: int) -> tuple[float, float]:
    """``(agent steps/s, cores used by other processes)`` of one mode in a fresh process."""
    busy0, ours0 = cpu_ticks()
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, "--backend", backend, "--steps", str(steps)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.perf_counter() - t0
    busy1, ours1 = cpu_ticks()
    rate = float(out.strip().splitlines()[-1])
    return rate, max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="one round of 400 agent steps each way")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1600, help="agent steps per measurement")
    ap.add_argument("--backend", default="python", choices=("python", "native"))
    ap.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(measure(args.worker, args.backend, args.steps))
        return
    if args.quick:
        args.rounds, args.steps = 1, 400
    print(
        f"machine: {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, device cpu, env backend {args.backend}"
    )
    print(
        f"settings: Pong, nature-dqn learner, update every {TRAIN_FREQUENCY} steps, "
        f"batch {BATCH}, {args.steps} agent steps per measurement, each in a fresh process\n"
    )
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    busiest = 0.0
    for r in range(args.rounds):
        for mode in MODES:
            rate, other = in_subprocess(mode, args.backend, args.steps)
            rates[mode].append(rate)
            busiest = max(busiest, other)
            print(
                f"round {r + 1}: {mode:10s} {rate:7.1f} agent steps/s (other CPU {other:.2f} cores)"
            )
    s, o = statistics.median(rates["sequential"]), statistics.median(rates["overlapped"])
    print("\n| loop | agent steps/s (median) |\n| --- | ---: |")
    print(f"| sequential (as `dqn train`) | {s:.1f} |\n| overlapped (learner thread) | {o:.1f} |")
    print(f"\nratio overlapped/sequential: {o / s:.2f}x")
    if busiest > 0.1:
        print(
            f"\nWARNING: other processes used up to {busiest:.2f} cores during the measurements; "
            "the figures are not trustworthy on a busy machine."
        )


if __name__ == "__main__":
    main()
