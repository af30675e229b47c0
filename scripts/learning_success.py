"""Measure the success rate of the CartPole learning checks: seeds x torch threads.

Each check of ``tests/test_learning_slow.py`` and ``tests/test_train.py`` is run
here on many seeds with ``train.torch_threads`` 1 and 2, and under torch's
vectorised kernels and its scalar ones (``ATEN_CPU_CAPABILITY=default``: other
kernels round differently, which stands in for another CPU; torch reads the
variable at import, so it is set for the whole sweep and recorded in the
``kernels`` column). One row per run goes to a CSV, written as each run ends, so
an interrupted sweep resumes where it stopped::

    python scripts/learning_success.py --out docs/data/learning_success.csv \
        --seeds 1-10 --threads 1,2
    ATEN_CPU_CAPABILITY=default python scripts/learning_success.py \
        --out docs/data/learning_success.csv --seeds 1-10 --threads 1

Checks:

- ``cartpole-dqn-train``: the ``cartpole`` preset through the package's own loop
  (``dqn_core.run.train``: vector envs, replay memory, learner, evaluation of
  10 greedy episodes every 5,000 steps), full 50k-step budget;
- ``cartpole``, ``dueling-double-per``, ``rainbow-style``: the minimal loop of
  ``tests/test_learning_slow.py`` (evaluations every 2,500 steps), stopping at the
  first evaluation whose mean reaches 475.

A run is solved when an evaluation mean reaches 475 within 50,000 agent steps;
``step`` is the first such evaluation's step.
"""

from __future__ import annotations

import argparse
import csv
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the checks' own loop and settings

FIELDS = ["check", "seed", "threads", "kernels", "solved", "step", "final_mean", "seconds", "cpu"]
CHECKS = ["cartpole-dqn-train", "cartpole", "dueling-double-per", "rainbow-style"]
THRESHOLD = 475.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def parse_ints(text: str) -> list[int]:
    values: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            values.extend(range(int(lo), int(hi) + 1))
        else:
            values.append(int(part))
    return values


def run_dqn_train(seed: int, threads: int) -> tuple[int | None, float]:
    from dqn_core.config import load_config
    from dqn_core.run import train

    sets = [f"seed={seed}", f"train.torch_threads={threads}"]
    sets += ["tracking.mlflow=false", "tracking.progress=false"]
    with tempfile.TemporaryDirectory() as tmp:
        train(load_config("cartpole", sets=sets), Path(tmp) / "run", quiet=True)
        with (Path(tmp) / "run" / "metrics.csv").open() as f:
            rows = list(csv.DictReader(f))
    evals = [(int(r["step"]), float(r["eval/return_mean"])) for r in rows if r["eval/return_mean"]]
    reached = next((s for s, m in evals if m >= THRESHOLD), None)
    return reached, evals[-1][1]


def run_tiny_loop(check: str, seed: int, threads: int) -> tuple[int | None, float]:
    from test_learning_slow import SETTINGS, train_cartpole

    from dqn_core.config import load_config

    config = load_config(
        "cartpole",
        overrides={**SETTINGS[check], "seed": seed},
        sets=[f"train.torch_threads={threads}"],
    )
    outcome = train_cartpole(config)
    return outcome.reached_step, outcome.evaluations[-1][1]


def markdown(path: Path) -> str:
    """The sweep as tables: one per check, seeds x (threads, kernels) -> step solved or 'no'."""
    with path.open() as f:
        rows = list(csv.DictReader(f))
    out: list[str] = []
    for check in CHECKS:
        mine = [r for r in rows if r["check"] == check]
        if not mine:
            continue
        columns = sorted(
            {(r["kernels"], int(r["threads"])) for r in mine}, key=lambda c: (c[0] == "DEFAULT", c)
        )
        cells = {(int(r["seed"]), r["kernels"], int(r["threads"])): r for r in mine}
        out += [
            f"**{check}** (step of the first evaluation >= {THRESHOLD:g}; 'no': not solved)",
            "",
        ]
        out.append("| seed | " + " | ".join(f"{k}, {t} thread(s)" for k, t in columns) + " |")
        out.append("| ---: |" + " ---: |" * len(columns))
        for seed in sorted({int(r["seed"]) for r in mine}):
            line = []
            for k, t in columns:
                r = cells.get((seed, k, t))
                line.append("" if r is None else (r["step"] if r["solved"] == "1" else "no"))
            out.append(f"| {seed} | " + " | ".join(line) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV, appended to")
    parser.add_argument("--checks", default=",".join(CHECKS))
    parser.add_argument("--seeds", default="1-10", help="e.g. 1-10 or 1,3,5")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument(
        "--markdown", action="store_true", help="print --out's rows as tables, run nothing"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(args.out))
        return 0
    checks = args.checks.split(",")
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        parser.error(f"unknown checks {unknown}; known: {CHECKS}")
    import torch

    kernels = torch.backends.cpu.get_cpu_capability()
    done: set[tuple[str, int, int]] = set()
    if args.out.exists():
        with args.out.open() as f:
            done = {
                (r["check"], int(r["seed"]), int(r["threads"]))
                for r in csv.DictReader(f)
                if r["kernels"] == kernels
            }
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as f:
            csv.DictWriter(f, FIELDS).writeheader()
    cpu = cpu_model()
    plan = [
        (c, s, t)
        for t in parse_ints(args.threads)
        for c in checks
        for s in parse_ints(args.seeds)
        if (c, s, t) not in done
    ]
    print(
        f"{len(plan)} runs to do ({len(done)} already in {args.out}); CPU: {cpu}, "
        f"torch kernels: {kernels}",
        flush=True,
    )
    for i, (check, seed, threads) in enumerate(plan, 1):
        t0 = time.perf_counter()
        if check == "cartpole-dqn-train":
            reached, final = run_dqn_train(seed, threads)
        else:
            reached, final = run_tiny_loop(check, seed, threads)
        row = {
            "check": check,
            "seed": seed,
            "threads": threads,
            "kernels": kernels,
            "solved": int(reached is not None),
            "step": "" if reached is None else reached,
            "final_mean": f"{final:.1f}",
            "seconds": f"{time.perf_counter() - t0:.0f}",
            "cpu": cpu,
        }
        with args.out.open("a", newline="") as f:
            csv.DictWriter(f, FIELDS).writerow(row)
        print(f"[{i}/{len(plan)}] {row}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
