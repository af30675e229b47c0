"""Learner updates per second: dqn_core's Learner vs Stable-Baselines3's DQN.train().

Both sides do the same work per update on the same machine in the same run:
sample a batch of 32 from a uint8 replay of random Atari-shaped frames
(4x84x84, 6 actions), target-network forward under no_grad, online forward,
Huber loss, backward, gradient-norm clipping at 10 (SB3's default) and an
optimizer step on the Nature CNN. SB3 uses its default Adam; ours is shown with
fused Adam and with DeepMind's RMSprop, plus our update alone (the batch
already built) to show what sampling costs.

Measurements are interleaved in rounds (ours, SB3, ours, ...) and the median
round is reported, so a busy machine slows both sides alike. Runs on the CPU,
and on CUDA too when a GPU is present.

    python benchmarks/learner.py            # ~2 minutes on 2 CPU cores
    python benchmarks/learner.py --quick    # under a minute
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from dqn_core.agent.learner import Learner
from dqn_core.config import from_dict
from dqn_core.replay import Batch
from dqn_core.seeding import Seeds

OBS_SHAPE = (4, 84, 84)
NUM_ACTIONS = 6
BATCH = 32
MAX_GRAD_NORM = 10.0  # SB3's DQN default, used on both sides


class FrameStore:
    """Random uint8 transitions kept like SB3's buffer (obs and next_obs arrays)."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.rng = rng
        self.obs = rng.integers(0, 256, (size, *OBS_SHAPE), dtype=np.uint8)
        self.next_obs = rng.integers(0, 256, (size, *OBS_SHAPE), dtype=np.uint8)
        self.action = rng.integers(0, NUM_ACTIONS, size)
        self.reward = rng.standard_normal(size).astype(np.float32)
        self.discount = np.where(rng.random(size) < 0.01, 0.0, 0.99).astype(np.float32)

    def sample(self, device: torch.device) -> Batch:
        i = self.rng.integers(0, len(self.obs), BATCH)

        def put(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a).to(device, non_blocking=True)

        return Batch(
            put(self.obs[i]),
            put(self.action[i]),
            put(self.reward[i]),
            put(self.discount[i]),
            put(self.next_obs[i]),
            torch.ones(BATCH, device=device),
            i,
        )


def our_learner(optimizer: str, device: torch.device) -> Learner:
    agent = {"optimizer": optimizer, "max_grad_norm": MAX_GRAD_NORM, "loss": "huber"}
    if optimizer == "adam":
        agent.update({"learning_rate": 1e-4, "optimizer_eps": 1.5e-4})
    cfg = from_dict({"agent": agent})
    return Learner(cfg, OBS_SHAPE, NUM_ACTIONS, device, Seeds(0))


def sb3_model(device: torch.device, store: FrameStore) -> Callable[[], None]:
    from stable_baselines3 import DQN
    from stable_baselines3.common.logger import Logger

    class FrameEnv(gym.Env[np.ndarray, int]):
        observation_space = gym.spaces.Box(0, 255, OBS_SHAPE, np.uint8)
        action_space = gym.spaces.Discrete(NUM_ACTIONS)

        def reset(self, *, seed: int | None = None, options: dict | None = None):  # type: ignore[override]
            return np.zeros(OBS_SHAPE, np.uint8), {}

        def step(self, action: int):  # type: ignore[override]
            return np.zeros(OBS_SHAPE, np.uint8), 0.0, False, False, {}

    size = len(store.obs)
    model = DQN(
        "CnnPolicy",
        FrameEnv(),
        buffer_size=size,
        learning_starts=0,
        batch_size=BATCH,
        device=device,
        seed=0,
        max_grad_norm=MAX_GRAD_NORM,
    )
    model.set_logger(Logger(folder=None, output_formats=[]))
    buffer = model.replay_buffer
    assert buffer is not None
    for i in range(size):
        buffer.add(
            store.obs[i : i + 1],
            store.next_obs[i : i + 1],
            store.action[i : i + 1],
            store.reward[i : i + 1],
            np.array([store.discount[i] == 0.0]),
            [{}],
        )
    return lambda: model.train(gradient_steps=1, batch_size=BATCH)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rate(step: Callable[[], None], updates: int, device: torch.device) -> float:
    """Updates per second of ``updates`` calls (synchronised at both ends)."""
    sync(device)
    t0 = time.perf_counter()
    for _ in range(updates):
        step()
    sync(device)
    return updates / (time.perf_counter() - t0)


def bench_device(device: torch.device, updates: int, rounds: int, store_size: int) -> None:
    rng = np.random.default_rng(0)
    store = FrameStore(store_size, rng)
    adam, rms = our_learner("adam", device), our_learner("rmsprop", device)
    fixed = store.sample(device)
    variants: dict[str, Callable[[], None]] = {
        "dqn_core Adam (fused), update only": lambda: adam.update(fixed) and None,
        "dqn_core Adam (fused), sample + update": lambda: (
            adam.update(store.sample(device)) and None
        ),
        "dqn_core RMSprop (DeepMind), sample + update": lambda: (
            rms.update(store.sample(device)) and None
        ),
        "SB3 DQN.train (Adam), sample + update": sb3_model(device, store),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for step in variants.values():  # warm-up: allocations, kernels, caches
        rate(step, max(5, updates // 5), device)
    for _ in range(rounds):
        for name, step in variants.items():
            results[name].append(rate(step, updates, device))
    peer = statistics.median(results["SB3 DQN.train (Adam), sample + update"])
    print(
        f"\ndevice {device} (torch threads {torch.get_num_threads()}), batch {BATCH}, "
        f"Nature CNN, median of {rounds} rounds x {updates} updates"
    )
    print(f"{'variant':48s} {'updates/s':>10s} {'ms/update':>10s} {'vs SB3':>7s}")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:48s} {median:10.1f} {1000 / median:10.2f} {median / peer:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer updates (under a minute)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    parser.add_argument("--device", choices=("all", "cpu", "cuda"), default="all")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    updates, rounds, store_size = (20, 3, 256) if args.quick else (60, 5, 2000)
    devices = []
    if args.device in ("all", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device in ("all", "cuda") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    elif args.device == "cuda":
        raise SystemExit("--device cuda: no CUDA device is available")
    for device in devices:
        bench_device(device, updates, rounds, store_size)


if __name__ == "__main__":
    main()
