"""Where a DER update's time goes, and the least it could take in float32 on this CPU.

One update of the ``der`` preset (C51, dueling, noisy, double, PER weights; batch
32 of 4x84x84 uint8 frames, 18 actions) is timed on its own, then profiled with
``torch.profiler``. The profile's self CPU times are grouped into:

* **matrix products** (``aten::mm``, ``addmm``, ``bmm``): the arithmetic the
  update cannot do without (two convolutions as products over patches, the
  noisy head; three forward passes and one backward pass);
* **optimizer kernel** (``aten::_fused_adam_``): one memory-bound pass over the
  1.2M parameters and their two moments;
* **patch gather** (``aten::gather``): the first layer's patches from the uint8
  frames, and the C51 gathers;
* **everything else**: the many small element-wise operators, conversions and
  their dispatch (what a fused kernel or compiler would remove).

It prints the update's time (unprofiled, median of ``--rounds``), each group's
time per update (profiled; the profiler adds a little to every operator, so the
groups sum to more than the update), and the **floor**: matrix products plus the
optimizer kernel. With the training loop's other parts (act, env, store, sample:
``benchmarks/der_throughput.py`` prints their share), the floor bounds the agent
steps/s any float32 implementation of this update can reach on the CPU.

The subnormal and malloc settings of a training run are applied
(:func:`dqn_core.run.cpu.configure_cpu`), so the update is timed as the loop runs it.

    python benchmarks/der_update.py                # 2 threads, ~30 s
    python benchmarks/der_update.py --threads 1
    python benchmarks/der_update.py --bf16         # the update under bfloat16 autocast

It also counts the products' floating-point operations (from the profile's input
shapes) and prints the rate they run at beside this CPU's rate on one large
float32 product (1024 x 1024 x 1024, same threads): where the two are close, the
products are bound by the CPU's arithmetic, and only fewer operations (not faster
code) can shorten them.

``--bf16`` runs each update under ``torch.autocast("cpu", dtype=torch.bfloat16)``
(products in bfloat16, where the CPU has AMX or AVX-512 BF16 that is its fast
path; other rounding, so not a setting of the training loop): it tells how much
of the products' time lower precision buys, and what its conversions cost.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from der_throughput import cpu_model
from train_throughput import cpu_ticks

from dqn_core.agent.learner import Learner
from dqn_core.config.load import from_dict, merge, preset_dict
from dqn_core.replay.batch import Batch
from dqn_core.run.cpu import configure_cpu
from dqn_core.seeding import Seeds

OBS_SHAPE = (4, 84, 84)
NUM_ACTIONS = 18  # RoadRunner, the DER benchmark's game
GROUPS = {
    "matrix products": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "optimizer kernel": ("aten::_fused_adam_",),
    "patch gather": ("aten::gather",),
}


def product_flops(name: str, shapes: list[list[int]]) -> int:
    """Floating-point operations (2 per multiply-add) of one product from its input shapes."""
    if name == "aten::mm":
        (m, k), (_, n) = shapes[0], shapes[1]
        return 2 * m * k * n
    if name == "aten::addmm":
        (m, k), (_, n) = shapes[1], shapes[2]
        return 2 * m * k * n
    a, b = (shapes[0], shapes[1]) if name == "aten::bmm" else (shapes[1], shapes[2])
    return 2 * a[0] * a[1] * a[2] * b[2]


def gemm_gflops(size: int = 1024, repeats: int = 20) -> float:
    """This CPU's float32 rate on one large square product, on the current threads."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times) / 1e9


def batches(count: int, batch_size: int, rng: np.random.Generator) -> list[Batch]:
    """Random transitions shaped like a DER replay batch (PER weights below 1)."""

    def frames() -> torch.Tensor:
        return torch.from_numpy(rng.integers(0, 256, (batch_size, *OBS_SHAPE), dtype=np.uint8))

    return [
        Batch(
            frames(),
            torch.from_numpy(rng.integers(0, NUM_ACTIONS, batch_size)),
            torch.from_numpy(rng.standard_normal(batch_size).astype(np.float32)),
            torch.full((batch_size,), 0.99**20),
            frames(),
            torch.from_numpy(rng.uniform(0.3, 1.0, batch_size).astype(np.float32)),
            np.arange(batch_size),
        )
        for _ in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--updates", type=int, default=300, help="timed updates per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profiled", type=int, default=100, help="profiled updates")
    parser.add_argument(
        "--bf16", action="store_true", help="run each update under bfloat16 autocast"
    )
    args = parser.parse_args()
    if min(args.threads, args.updates, args.rounds, args.profiled) < 1:
        parser.error("--threads, --updates, --rounds and --profiled must be >= 1")

    config = from_dict(merge(preset_dict("der"), {"train": {"torch_threads": args.threads}}))
    configure_cpu(config.train)
    learner = Learner(config, OBS_SHAPE, NUM_ACTIONS, "cpu", Seeds(0))
    data = batches(16, config.train.batch_size, np.random.default_rng(0))
    if args.bf16:
        update = learner.update

        def autocast_update(batch: Batch) -> object:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return update(batch)

        learner.update = autocast_update  # type: ignore[method-assign]
    for i in range(100):  # warm-up: allocator, Adam state, first-call paths
        learner.update(data[i % len(data)])

    busy0, ours0 = cpu_ticks()
    wall0 = time.perf_counter()
    rounds = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for i in range(args.updates):
            learner.update(data[i % len(data)])
        rounds.append((time.perf_counter() - start) / args.updates * 1e3)
    busy1, ours1 = cpu_ticks()
    other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (time.perf_counter() - wall0)
    update_ms = statistics.median(rounds)

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(args.profiled):
            learner.update(data[i % len(data)])
    self_ms: dict[str, float] = dict.fromkeys([*GROUPS, "everything else"], 0.0)
    calls: dict[str, int] = dict.fromkeys(self_ms, 0)
    for event in prof.key_averages():
        group = next((g for g, names in GROUPS.items() if event.key in names), "everything else")
        self_ms[group] += event.self_cpu_time_total / 1e3 / args.profiled
        calls[group] += event.count
    calls = {group: round(count / args.profiled) for group, count in calls.items()}
    # The products' operations, from a second, short profile that records input
    # shapes (recording them slows every operator, so the times above come without).
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as shaped:
        for i in range(5):
            learner.update(data[i % len(data)])
    flops = (
        sum(
            product_flops(event.key, event.input_shapes) * event.count
            for event in shaped.key_averages(group_by_input_shape=True)
            if event.key in GROUPS["matrix products"]
        )
        / 5
    )
    product_rate = flops / (self_ms["matrix products"] / 1e3) / 1e9
    peak_rate = gemm_gflops()
    profiled_ms = sum(self_ms.values())
    floor_ms = self_ms["matrix products"] + self_ms["optimizer kernel"]

    print(
        f"CPU: {cpu_model()}; torch {torch.__version__}; {args.threads} thread(s); "
        f"der preset, batch {config.train.batch_size}, {NUM_ACTIONS} actions; "
        f"{'bfloat16 autocast' if args.bf16 else 'float32'}; "
        f"other processes used {other:.2f} cores"
    )
    print(
        f"update: {update_ms:.2f} ms (median of {args.rounds} rounds of {args.updates}; "
        f"rounds {', '.join(f'{r:.2f}' for r in rounds)})"
    )
    print(
        f"\nprofiled ({args.profiled} updates; {profiled_ms:.2f} ms of self CPU time an update):\n"
    )
    print("| part | ms an update | share | operator calls an update |")
    print("| --- | ---: | ---: | ---: |")
    for group, ms in self_ms.items():
        print(f"| {group} | {ms:.2f} | {ms / profiled_ms:.0%} | {calls[group]} |")
    print(
        f"\nfloor (matrix products + optimizer kernel): {floor_ms:.2f} ms, "
        f"{floor_ms / update_ms:.0%} of the update; everything else costs the update "
        f"{update_ms - floor_ms:.2f} ms"
    )
    print(
        f"matrix products: {flops / 1e6:.0f} MFLOP an update at {product_rate:.0f} GFLOP/s "
        f"(profiled); this CPU on a 1024x1024x1024 float32 product: {peak_rate:.0f} GFLOP/s "
        f"({product_rate / peak_rate:.0%} of it)"
    )


if __name__ == "__main__":
    main()
