"""Measure the success rate of the CartPole learning checks: seeds x torch threads.

Each check of ``tests/test_learning_slow.py`` and ``tests/test_train.py`` is run
here on many seeds with ``train.torch_threads`` 1 and 2 (a different reduction
order stands in for another CPU). One row per run goes to a CSV, written as each
run ends, so an interrupted sweep resumes where it stopped::

    python scripts/learning_success.py --out docs/data/learning_success.csv \
        --seeds 1-10 --threads 1,2

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

FIELDS = ["check", "seed", "threads", "solved", "step", "final_mean", "seconds", "cpu"]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV, appended to")
    parser.add_argument("--checks", default=",".join(CHECKS))
    parser.add_argument("--seeds", default="1-10", help="e.g. 1-10 or 1,3,5")
    parser.add_argument("--threads", default="1,2")
    args = parser.parse_args(argv)
    checks = args.checks.split(",")
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        parser.error(f"unknown checks {unknown}; known: {CHECKS}")
    done: set[tuple[str, int, int]] = set()
    if args.out.exists():
        with args.out.open() as f:
            done = {(r["check"], int(r["seed"]), int(r["threads"])) for r in csv.DictReader(f)}
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
    print(f"{len(plan)} runs to do ({len(done)} already in {args.out}); CPU: {cpu}", flush=True)
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
