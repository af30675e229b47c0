"""What the learner saves when the target network holds the online weights.

With ``agent.target_update_steps: 1`` (the ``drq-eps`` preset, as Dopamine's
DrQ(eps)) the target is synced after every update, so at the next update it
computes exactly what the online network does, and the learner's TD target
reuses the online network's pass over ``next_obs`` instead of running the
target (``Learner._target_is_online``; the same values bit for bit,
tests/test_drq.py). This times ``sync_target()`` + ``update()`` of a preset on
random frames both ways, in alternating rounds in one process, with the
training run's CPU settings applied, and prints the ratio.

    python benchmarks/target_shortcut.py                    # drq-eps, 2 threads
    python benchmarks/target_shortcut.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--preset", default="drq-eps")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--updates", type=int, default=60, help="timed updates per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from der_throughput import cpu_model
    from train_throughput import cpu_ticks

    from dqn_core.agent.learner import Learner
    from dqn_core.config import load_config
    from dqn_core.run.cpu import configure_cpu
    from dqn_core.seeding import Seeds

    cfg = load_config(args.preset, sets=[f"train.torch_threads={args.threads}"])
    configure_cpu(cfg.train)
    rng = np.random.default_rng(0)
    size = cfg.train.batch_size
    batch = SimpleNamespace(
        obs=rng.integers(0, 256, (size, 4, 84, 84), dtype=np.uint8),
        next_obs=rng.integers(0, 256, (size, 4, 84, 84), dtype=np.uint8),
        action=rng.integers(0, 6, size).astype(np.int64),
        reward=rng.random(size).astype(np.float32),
        discount=np.full(size, cfg.agent.gamma**cfg.replay.n_step, np.float32),
        weight=np.ones(size, np.float32),
    )
    learner = Learner(cfg, (4, 84, 84), 6, "cpu", Seeds(0))

    def timed(shortcut: bool, updates: int) -> float:
        start = time.perf_counter()
        for _ in range(updates):
            learner.sync_target()
            if not shortcut:
                learner._target_is_online = False  # the target's own pass, as before
            learner.update(batch)
        return 1e3 * (time.perf_counter() - start) / updates

    timed(True, 5), timed(False, 5)  # warm-up
    busy0, ours0 = cpu_ticks()
    wall0 = time.perf_counter()
    times: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(args.rounds):
        for shortcut in (True, False):
            times[shortcut].append(timed(shortcut, args.updates))
    busy1, ours1 = cpu_ticks()
    other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (time.perf_counter() - wall0)
    fast, slow = statistics.median(times[True]), statistics.median(times[False])
    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; preset {args.preset}; {args.threads} "
        f"torch threads; other processes {other:.2f} cores"
    )
    print(f"sync + update, target's own pass: {slow:.2f} ms (median of {args.rounds} rounds)")
    print(f"sync + update, online pass reused: {fast:.2f} ms")
    print(f"ratio: {slow / fast:.2f}x")


if __name__ == "__main__":
    main()
