"""Replay memory benchmark: bytes per transition, add and sample throughput.

Our frame-deduplicated memory (``dqn_core.replay``, uniform and prioritized)
side by side with Stable-Baselines3's ``ReplayBuffer`` (default, and with
``optimize_memory_usage=True``), measured in the same process on the same
stream of Atari-shaped (4, 84, 84) uint8 observations.

    .venv/bin/python benchmarks/replay.py            # capacity 100k for speeds, a few minutes
    .venv/bin/python benchmarks/replay.py --quick    # capacity 10k, under a minute

What is measured, and how, is printed beside each figure:

- bytes per transition at capacity 1M: ours from the ``nbytes`` of every array
  it allocates at capacity 1M (numpy allocates lazily, so nothing is filled);
  SB3 from the ``nbytes`` of its arrays at the speed-test capacity (they are
  linear in capacity: a 1M default buffer would need 53 GiB, more than this
  machine has). The RSS growth while filling ours is printed as a check that
  the figure includes everything.
- add throughput: transitions per second while filling an empty buffer (first
  touch of the memory included) and in steady state (overwriting a full one),
  for 1 env and for 8 envs per ``add``.
- sampling: batches of 32 per second, as torch tensors on the CPU, median
  over interleaved rounds (the machine may be shared: interleaving exposes
  every candidate to the same load). Ours gathers frames with numpy on one
  thread; SB3's copies go through torch, so both are shown at torch's
  default number of threads and at one.

The full run holds four full buffers of 100k at once (about 10 GiB, SB3's
default buffer alone 5.3 GiB); ``--capacity`` lowers that.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dqn_core.replay import ReplayMemory, available_memory_bytes
from dqn_core.replay.prioritized import PrioritizedReplayMemory

OBS_SHAPE = (4, 84, 84)
BATCH = 32
EPISODE_STEPS = 1000  # agent steps per episode in the synthetic stream
GiB = 2**30


# ------------------------------------------------------------------- buffers
def ours(capacity: int, num_envs: int, prioritized: bool, **kw: Any) -> ReplayMemory:
    common: dict[str, Any] = {
        "frame_stack": 4,
        "n_step": 1,
        "gamma": 0.99,
        "rng": np.random.default_rng(0),
        **kw,
    }
    if prioritized:
        return PrioritizedReplayMemory(
            capacity, OBS_SHAPE, np.uint8, num_envs, alpha=0.6, priority_eps=1e-6, **common
        )
    return ReplayMemory(capacity, OBS_SHAPE, np.uint8, num_envs, **common)


def sb3(capacity: int, num_envs: int, optimize: bool) -> Any:
    from gymnasium import spaces
    from stable_baselines3.common.buffers import ReplayBuffer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its own "may not fit" warning
        return ReplayBuffer(
            capacity,
            spaces.Box(0, 255, OBS_SHAPE, np.uint8),
            spaces.Discrete(6),
            device="cpu",
            n_envs=num_envs,
            optimize_memory_usage=optimize,
            handle_timeout_termination=not optimize,  # SB3 refuses both at once
        )


def sb3_nbytes(buf: Any) -> int:
    names = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    return sum(getattr(buf, n).nbytes for n in names if hasattr(buf, n))


# -------------------------------------------------------------------- stream
class Stream:
    """Consistent stacked observations for N envs: episodes of EPISODE_STEPS steps.

    Every env shows the same frames (content does not matter for speed); the
    arrays are built once so that the timed loops measure only ``add``.
    """

    def __init__(self, num_envs: int) -> None:
        rng = np.random.default_rng(1)
        pool = rng.integers(0, 256, (EPISODE_STEPS + 4, 84, 84), dtype=np.uint8)
        self.num_envs = num_envs
        self.stacks = [
            np.ascontiguousarray(np.broadcast_to(pool[j : j + 4], (num_envs, *OBS_SHAPE)))
            for j in range(EPISODE_STEPS + 1)
        ]
        self.action = np.zeros(num_envs, np.int64)
        self.reward = np.ones(num_envs, np.float32)
        self.no = np.zeros(num_envs, bool)
        self.yes = np.ones(num_envs, bool)
        self.infos = [{} for _ in range(num_envs)]
        self.t = 0

    def next(self) -> tuple[np.ndarray, np.ndarray, bool]:
        j = self.t % EPISODE_STEPS
        self.t += 1
        return self.stacks[j], self.stacks[j + 1], j == EPISODE_STEPS - 1


def add_ours(mem: ReplayMemory, stream: Stream, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, nxt, end = stream.next()
        flag = stream.yes if end else stream.no
        mem.add(obs, stream.action, stream.reward, flag, flag, nxt)
    return time.perf_counter() - t0


def add_sb3(buf: Any, stream: Stream, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        obs, nxt, end = stream.next()
        buf.add(
            obs, nxt, stream.action, stream.reward, stream.yes if end else stream.no, stream.infos
        )
    return time.perf_counter() - t0


# ------------------------------------------------------------------- helpers
def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def fmt(x: float) -> str:
    return f"{x:,.0f}"


def row(label: str, value: str, note: str = "") -> None:
    print(f"  {label:<34} {value:>12}  {note}")


def interleaved(
    cands: dict[str, Callable[[], Any]], rounds: int, per_round: int
) -> dict[str, float]:
    """Median calls per second of each candidate over interleaved rounds."""
    rates: dict[str, list[float]] = {name: [] for name in cands}
    for fn in cands.values():  # warm-up: allocator, caches
        for _ in range(3):
            fn()
    for _ in range(rounds):
        for name, fn in cands.items():
            t0 = time.perf_counter()
            for _ in range(per_round):
                fn()
            rates[name].append(per_round / (time.perf_counter() - t0))
    return {name: statistics.median(r) for name, r in rates.items()}


# ---------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="capacity 10k, fewer rounds (< 1 min)")
    ap.add_argument("--capacity", type=int, default=None, help="capacity of the speed tests")
    args = ap.parse_args()
    cap = args.capacity or (10_000 if args.quick else 100_000)
    rounds, per_round = (3, 20) if args.quick else (7, 100)
    # SB3 samples from numpy's global generator: seeding it is the only way to
    # make its draws repeatable (our memory draws from the generator it is given).
    np.random.seed(0)  # noqa: NPY002

    import stable_baselines3

    avail = available_memory_bytes()
    print("Replay memory benchmark: Atari observations (4, 84, 84) uint8, batches of 32")
    print(
        f"  numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"stable-baselines3 {stable_baselines3.__version__}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}, "
        f"{'?' if avail is None else f'{avail / GiB:.1f} GiB'} available"
    )

    # 1) bytes per transition -------------------------------------------------
    print("\n1) Bytes per transition at capacity 1,000,000 (target: ours <= 7,200)")
    per: dict[str, float] = {}
    for name, prio in (("ours uniform", False), ("ours prioritized", True)):
        mem = ours(1_000_000, 1, prio, check_memory=False)
        per[name] = mem.nbytes / mem.capacity
        del mem
    for name, opt in (("SB3 ReplayBuffer", False), ("SB3 optimize_memory_usage", True)):
        buf = sb3(cap, 1, opt)
        per[name] = sb3_nbytes(buf) / cap
        del buf
    gc.collect()
    base = per["SB3 ReplayBuffer"]
    for name, value in per.items():
        how = (
            "sum of its arrays' nbytes at 1M (allocated lazily, not filled)"
            if name.startswith("ours")
            else f"its arrays' nbytes at {cap:,} (linear) -> {value * 1e6 / GiB:.1f} GiB at 1M"
        )
        row(name, fmt(value), f"x{base / value:.2f} less than SB3 default; {how}")
    row("one 84x84 frame", fmt(84 * 84))

    # 2) add throughput with 1 env; these buffers, full, then serve the sampling test
    need = cap * (2 * 7_200 + 56_468 + 28_244) * 1.15
    if avail is not None and need > avail:
        print(f"\n  (only {avail / GiB:.1f} GiB available; lower --capacity for the speed tests)")
    print(f"\n2) add: transitions per second, capacity {cap:,}, episodes of {EPISODE_STEPS} steps")
    print(
        "   fill = from empty to full (first touch of the memory); steady = overwriting a full one"
    )
    full = bench_add(cap, 1, keep=True)

    # 3) sampling ------------------------------------------------------------------
    print(
        f"\n3) sample: batches of {BATCH} per second (full buffers of {cap:,}, 1 env), "
        f"median of {rounds} interleaved rounds x {per_round} batches"
    )
    ok_speed = bench_sample(full, rounds, per_round)
    full.clear()
    gc.collect()

    # 4) add throughput with 8 envs per add (the native vector path) ---------------
    print(f"\n4) add with 8 envs per call: transitions per second, capacity {cap:,}")
    bench_add(cap, 8, keep=False)

    ok_bytes = per["ours uniform"] <= 7_200 and per["ours prioritized"] <= 7_200
    print(
        f"\nTargets: bytes <= 7,200: {'met' if ok_bytes else 'MISSED'}; "
        f"uniform sampling >= SB3: {'met' if ok_speed else 'MISSED'}"
    )


def bench_add(cap: int, envs: int, *, keep: bool) -> dict[str, Any]:
    """Fill each buffer from empty, then overwrite a fifth; print transitions/s."""
    steps = cap // envs
    results: dict[str, tuple[float, float]] = {}
    kept: dict[str, Any] = {}
    for name in (
        "ours uniform",
        "ours prioritized",
        "SB3 ReplayBuffer",
        "SB3 optimize_memory_usage",
    ):
        stream = Stream(envs)
        gc.collect()
        before = rss()
        if name.startswith("ours"):
            buf: Any = ours(cap, envs, name.endswith("prioritized"))
            fill = add_ours(buf, stream, steps)
            grown = rss() - before
            steady = add_ours(buf, stream, max(steps // 5, 1))
            if name == "ours uniform" and envs == 1:
                row(
                    "  ours: RSS growth while filling",
                    f"{grown / 2**20:,.0f} MiB",
                    f"nbytes {buf.nbytes / 2**20:,.0f} MiB; per sampleable transition "
                    f"when full: {buf.nbytes / len(buf):,.0f} bytes",
                )
        else:
            buf = sb3(cap, envs, name.endswith("usage"))
            fill = add_sb3(buf, stream, steps)
            steady = add_sb3(buf, stream, max(steps // 5, 1))
        results[name] = (steps * envs / fill, max(steps // 5, 1) * envs / steady)
        if keep:
            kept[name] = buf
        del buf, stream
    ref = results["SB3 ReplayBuffer"]
    for name, (fill_rate, steady_rate) in results.items():
        row(
            f"{name}, {envs} env{'s' if envs > 1 else ''}",
            fmt(steady_rate),
            f"steady (x{steady_rate / ref[1]:.2f} SB3); fill {fmt(fill_rate)} "
            f"(x{fill_rate / ref[0]:.2f})",
        )
    return kept


def bench_sample(full: dict[str, Any], rounds: int, per_round: int) -> bool:
    """Print batches/s of every buffer; True where ours (uniform) >= SB3 at every setting."""
    uni, per_mem = full["ours uniform"], full["ours prioritized"]

    def per_sample_update() -> None:
        b = per_mem.sample(BATCH, beta=0.5)
        per_mem.update_priorities(b.indices, np.abs(np.sin(b.indices)))

    cands: dict[str, Callable[[], Any]] = {
        "ours uniform": lambda: uni.sample(BATCH),
        "ours prioritized": lambda: per_mem.sample(BATCH, beta=0.5),
        "ours prioritized + update": per_sample_update,
        "SB3 ReplayBuffer": lambda: full["SB3 ReplayBuffer"].sample(BATCH),
        "SB3 optimize_memory_usage": lambda: full["SB3 optimize_memory_usage"].sample(BATCH),
    }
    default_threads = torch.get_num_threads()
    ok = True
    for threads in sorted({default_threads, 1}, reverse=True):
        # SB3 copies batches into tensors with torch, which uses its intra-op
        # threads: show it at torch's default and at one thread.
        torch.set_num_threads(threads)
        print(f"   torch intra-op threads: {threads}")
        rates = interleaved(cands, rounds, per_round)
        ref_rate = rates["SB3 ReplayBuffer"]
        for name, rate in rates.items():
            note = f"x{rate / ref_rate:.2f} SB3 default ({1e6 / rate:,.0f} us a batch)"
            row(name, fmt(rate), note)
        ok &= rates["ours uniform"] >= ref_rate
    torch.set_num_threads(default_threads)
    return ok


if __name__ == "__main__":
    main()
