"""Data-efficient Rainbow (the `der` preset) in the learning phase: this tree beside an older commit.

DER makes one update per agent step, so its speed is the learner's. This script
runs `dqn train --preset der` on an Atari game (the real env, replay, PER and
learner; MLflow off) for a few thousand agent steps and prints, per code tree:

* agent steps/s (= updates/s) in the learning phase, from metrics.csv;
* where the loop's time goes: act, env, store, sample, learn; and inside learn
  (where the tree's learner reports it) forward, backward and optimizer;
* evaluation agent steps/s: the trained network acting greedily with its mean
  weights (as `dqn evaluate` and the in-training evaluations do) on one env,
  ``--eval-steps`` agent steps;
* the CPU model, torch threads, and the CPU used by *other* processes during
  each measurement (a figure taken on a busy machine is flagged).

``--baseline COMMIT`` times that commit beside the working tree in the same
invocation: the commit is checked out into a temporary git worktree, and the two
trees run in alternating rounds, each in a fresh process, so every speed claim
is a ratio measured side by side. ``--parallel`` also measures two runs at once
with one torch thread each (their summed agent steps/s), against one run with
two threads: the best use of a 2-core machine for a suite.

    python benchmarks/der_throughput.py --baseline 259d9df            # 2 rounds
    python benchmarks/der_throughput.py --baseline 259d9df --parallel
    python benchmarks/der_throughput.py --quick                       # this tree, 1 short round
    python benchmarks/der_throughput.py --preset drq-eps --quick      # DrQ(eps) instead of DER
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """Model name, family/model numbers and whether AVX-512 is there (as lscpu shows them)."""
    info: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    if "model name" not in info:
        return platform.processor() or platform.machine()
    avx512 = "AVX-512" if "avx512f" in info.get("flags", "").split() else "no AVX-512"
    return (
        f"{info['model name']} (vendor {info.get('vendor_id', '?')}, family "
        f"{info.get('cpu family', '?')} model {info.get('model', '?')}, {avx512})"
    )


# ------------------------------------------------------------------ worker side
def worker(
    tree: Path,
    game: str,
    steps: int,
    learning_starts: int,
    threads: int,
    compile_mode: str,
    eval_steps: int,
    preset: str = "der",
) -> dict[str, Any]:
    """One run of ``preset`` (DER unless told) of ``tree``'s dqn_core in this process."""
    sys.path.insert(0, str(tree))
    import csv

    import torch

    import dqn_core
    from dqn_core.config import load_config

    # Older commits (e.g. 259d9df) kept the loop and the evaluation at the top level.
    try:
        from dqn_core.run import Trainer
        from dqn_core.run.evaluate import evaluate_policy
    except ImportError:
        from dqn_core.evaluate import evaluate_policy  # type: ignore[no-redef]
        from dqn_core.train import Trainer  # type: ignore[no-redef]

    assert Path(dqn_core.__file__).resolve().is_relative_to(tree.resolve()), dqn_core.__file__
    sets = [
        f"env.game={game}",
        f"train.total_steps={steps}",
        f"train.learning_starts={learning_starts}",
        "train.log_every_steps=500",
        f"train.checkpoint_every_steps={10 * steps}",
        f"eval.every_steps={10 * steps}",
        "eval.episodes=1",
        "eval.max_steps=10",
        "tracking.mlflow=false",
        "tracking.progress=false",
        "train.device=cpu",
        f"train.torch_threads={threads}",
    ]
    if compile_mode != "none":
        sets.append(f"train.compile={compile_mode}")
    cfg = load_config(preset, sets=sets)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(cfg, Path(tmp) / "run", quiet=True)
        trainer.run()
        rows = list(csv.DictReader((Path(tmp) / "run" / "metrics.csv").open()))
        # The trained network evaluated as the runs' evaluations do: eval mode (the
        # mean weights of the noisy layers), epsilon 0.001, one env, eval_steps steps.
        trainer.learner.online.eval()
        logging.getLogger("dqn_core").setLevel(logging.ERROR)  # "n of 10**6 episodes finished"
        t0 = time.perf_counter()
        evaluate_policy(trainer.learner.act, cfg, index=1, episodes=10**6, max_steps=eval_steps)
        eval_rate = eval_steps / (time.perf_counter() - t0)
    # From the first log point a full window after learning starts, to the last one
    # before the final evaluation's row (whose time includes the evaluation).
    rows = [r for r in rows if int(r["step"]) >= learning_starts + 500]
    first, last = rows[0], rows[-2] if len(rows) > 2 else rows[-1]
    rate = (int(last["step"]) - int(first["step"])) / (
        float(last["time_s"]) - float(first["time_s"])
    )
    timers = dict(trainer.timers)
    learn = dict(getattr(trainer.learner, "timers", {}) or {})
    return {
        "rate": rate,
        "eval_rate": eval_rate,
        "timers": timers,
        "learn": learn,
        "updates": trainer.learner.updates,
        "torch_threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------ driver side
def spawn(tree: Path, args: argparse.Namespace, threads: int) -> subprocess.Popen[str]:
    compile_mode = args.compile if tree == REPO else "none"  # old commits run eager
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        str(tree),
        "--game",
        args.game,
        "--steps",
        str(args.steps),
        "--learning-starts",
        str(args.learning_starts),
        "--threads",
        str(threads),
        "--compile",
        compile_mode,
        "--eval-steps",
        str(args.eval_steps),
        "--preset",
        args.preset,
    ]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=tree)


def collect(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"worker failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def measure(trees: list[Path], args: argparse.Namespace, threads: int) -> list[dict[str, Any]]:
    """Run one worker per tree, all at once; each result gains ``other_cpu``."""
    # Imported here, not at the top: train_throughput imports this tree's dqn_core,
    # which a worker timing an older commit must not see.
    from train_throughput import cpu_ticks

    busy0, ours0 = cpu_ticks()
    t0 = time.perf_counter()
    results = [collect(p) for p in [spawn(t, args, threads) for t in trees]]
    wall = time.perf_counter() - t0
    busy1, ours1 = cpu_ticks()
    other = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
    for r in results:
        r["other_cpu"] = other
    return results


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="der-baseline-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(path), commit],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False
            )


def split(r: dict[str, Any]) -> str:
    total = sum(r["timers"].values())
    loop = ", ".join(f"{k} {v / total:.0%}" for k, v in r["timers"].items())
    inner = ""
    learn = r.get("learn") or {}
    if learn and r["updates"]:
        inner = "; per update: " + ", ".join(
            f"{k} {1e3 * v / r['updates']:.2f} ms" for k, v in learn.items()
        )
    return loop + inner


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--baseline", help="an older commit to time beside the working tree")
    ap.add_argument("--game", default="RoadRunner")
    ap.add_argument("--steps", type=int, default=5_600, help="agent steps per run")
    ap.add_argument("--learning-starts", type=int, default=1_600, help="the der preset's value")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2, help="torch threads of a single run")
    ap.add_argument(
        "--parallel", action="store_true", help="also: 2 runs at once, 1 thread each (summed)"
    )
    ap.add_argument(
        "--compile",
        default="none",
        help="train.compile of the working tree's runs (none, default, ...); the baseline "
        "always runs eager",
    )
    ap.add_argument(
        "--eval-steps", type=int, default=2_000, help="agent steps of the timed evaluation"
    )
    ap.add_argument("--quick", action="store_true", help="3,600 steps, one round")
    ap.add_argument(
        "--preset",
        default="der",
        help="another preset with one update per agent step (drq-eps); a baseline commit "
        "must have it",
    )
    args = ap.parse_args()
    if args.worker is not None:
        print(
            json.dumps(
                worker(
                    args.worker,
                    args.game,
                    args.steps,
                    args.learning_starts,
                    args.threads,
                    args.compile,
                    args.eval_steps,
                    args.preset,
                )
            )
        )
        return
    if args.quick:
        args.steps, args.rounds = 3_600, 1

    import torch

    print(
        f"CPU: {cpu_model()}, {os.cpu_count()} cores; torch {torch.__version__}; "
        f"game {args.game}; {args.preset} preset, {args.steps} agent steps, learning from "
        f"{args.learning_starts}, one update per agent step, batch 32"
    )
    with contextlib.ExitStack() as stack:
        trees = {"working tree": REPO}
        if args.baseline:
            trees = {args.baseline: stack.enter_context(worktree(args.baseline)), **trees}
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        pairs: dict[str, list[float]] = {name: [] for name in trees}
        for rnd in range(args.rounds):
            for name, tree in trees.items():
                (r,) = measure([tree], args, args.threads)
                results[name].append(r)
                print(
                    f"round {rnd + 1}: {name:14s} {r['rate']:6.1f} agent steps/s, "
                    f"evaluation {r['eval_rate']:6.1f} ({args.threads} threads; "
                    f"other CPU {r['other_cpu']:.2f} cores)"
                )
            if args.parallel:
                for name, tree in trees.items():
                    both = measure([tree, tree], args, 1)
                    pairs[name].append(sum(r["rate"] for r in both))
                    print(
                        f"round {rnd + 1}: {name:14s} 2 runs x 1 thread: "
                        + " + ".join(f"{r['rate']:.1f}" for r in both)
                        + f" = {pairs[name][-1]:.1f} agent steps/s "
                        f"(other CPU {both[0]['other_cpu']:.2f} cores)"
                    )
        print(
            "\n| code | agent steps/s, 1 run x "
            f"{args.threads} threads (median) | 2 runs x 1 thread, summed | "
            "evaluation agent steps/s (median) | other CPU (cores) |"
        )
        print("| --- | ---: | ---: | ---: | ---: |")
        med = {n: statistics.median(r["rate"] for r in rs) for n, rs in results.items()}
        ev = {n: statistics.median(r["eval_rate"] for r in rs) for n, rs in results.items()}
        for name, rs in results.items():
            two = f"{statistics.median(pairs[name]):.1f}" if pairs[name] else "-"
            busy = max(r["other_cpu"] for r in rs)
            print(f"| {name} | {med[name]:.1f} | {two} | {ev[name]:.1f} | {busy:.2f} |")
        if args.baseline:
            print(
                f"\nratio working tree / {args.baseline}: "
                f"{med['working tree'] / med[args.baseline]:.2f}x (1 run x {args.threads} threads)"
            )
            print(
                f"ratio working tree / {args.baseline}, evaluation: "
                f"{ev['working tree'] / ev[args.baseline]:.2f}x"
            )
            if pairs["working tree"]:
                print(
                    f"ratio working tree 2x1 / {args.baseline} 1x{args.threads}: "
                    f"{statistics.median(pairs['working tree']) / med[args.baseline]:.2f}x "
                    "(suite throughput)"
                )
        for name, rs in results.items():
            print(f"time split, {name}: {split(rs[-1])}")
        busy = max(r["other_cpu"] for rs in results.values() for r in rs)
        if busy > 0.1:
            print(
                f"\nWARNING: other processes used up to {busy:.2f} cores during the "
                "measurements; the figures are not trustworthy on a busy machine."
            )


if __name__ == "__main__":
    main()
