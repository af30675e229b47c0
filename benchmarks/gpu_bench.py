"""The GPU check's measurements (run by ``benchmarks/gpu_check.sh``; dry-runs on the CPU).

Each measurement is a *section* run in its own process, with its own time
limit, and writes one JSON line to ``OUT/results.jsonl`` as soon as it ends, so
a section that hangs or runs out of time costs only itself and nothing measured
before it is lost. The sections, in order of what the GPU issue needs most:

* ``copy``: host-to-device copies of one Nature batch (obs + next_obs, uint8),
  from pageable and from pinned memory (ms per batch);
* ``learner-<preset>-<mode>``: learner-only updates/s (batch 32, no env, no
  replay), for the Nature and DER presets, eager and compiled;
* ``nature-<mode>-n<N>``: ``nature-dqn`` training on Pong with N native envs at
  the Nature replay ratio (one update of batch 32 per 4 agent steps, all envs
  together): agent steps/s and updates/s in the learning phase, the loop's time
  split (act, env, store, sample, learn; inside learn noise, forward, backward,
  optimizer), CPU cores used, the GPU's utilisation;
* ``der-<mode>``: the ``der`` preset (one update per agent step), the same figures;
* ``drq-<mode>``: the ``drq-eps`` preset (DrQ(eps): one update per agent step, the
  Dopamine torso, augmented batches), the same figures;
* ``par<K>-<section>``: K copies of a training section (e.g. ``par4-der-none``)
  at once on the one GPU, each with 1/K of the host's cores as torch threads:
  their summed agent steps/s against one alone, i.e. how many runs a GPU should
  hold at once (the suites' Snakemake ``gpu`` resource).

MLflow, pandas and snakemake are never imported (the GPU machine lacks them).

    python benchmarks/gpu_bench.py --out OUT                  # the GPU budgets
    python benchmarks/gpu_bench.py --out OUT --device cpu --tiny   # dry run
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from gpu_measure import GpuSampler, cpu_seconds, sync  # noqa: E402


# ------------------------------------------------------------------ sections
def section_copy(device: str, tiny: bool) -> dict[str, Any]:
    import torch

    n = 20 if tiny else 500
    host = torch.randint(0, 255, (2, 32, 4, 84, 84), dtype=torch.uint8)
    result: dict[str, Any] = {"batch_bytes": host.numel()}
    sources = {"pageable": host}
    if device.startswith("cuda"):
        sources["pinned"] = host.pin_memory()
    for name, src in sources.items():
        for _ in range(5):
            src.to(device, non_blocking=True)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(n):
            src.to(device, non_blocking=True)
        sync(device)
        result[f"{name}_ms"] = 1000 * (time.perf_counter() - t0) / n
    return result


def section_learner(device: str, preset: str, mode: str, tiny: bool) -> dict[str, Any]:
    import numpy as np
    import torch

    from dqn_core.agent.learner import Learner
    from dqn_core.config import load_config
    from dqn_core.replay import Batch
    from dqn_core.seeding import Seeds

    cfg = load_config(preset, sets=[f"train.compile={mode}", "train.device=" + device])
    actions = 18 if preset == "der" else 6
    learner = Learner(cfg, (4, 84, 84), actions, device, Seeds(0))
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 255, (2, 32, 4, 84, 84), dtype=torch.uint8, generator=g)
    batch = Batch(
        obs=frames[0].to(device),
        action=torch.randint(0, actions, (32,), generator=g).to(device),
        reward=torch.randn(32, generator=g).to(device),
        discount=torch.full((32,), 0.99).to(device),
        next_obs=frames[1].to(device),
        weight=torch.ones(32).to(device),
        indices=np.arange(32),
    )
    t0 = time.perf_counter()
    for _ in range(3 if tiny else 20):  # warm-up, and the compilation
        learner.update(batch)
    sync(device)
    warmup = time.perf_counter() - t0
    n = 10 if tiny else (3000 if device.startswith("cuda") else 200)
    c0, t0 = cpu_seconds(), time.perf_counter()
    for _ in range(n):
        learner.update(batch)
    sync(device)
    wall = time.perf_counter() - t0
    return {
        "updates_per_s": n / wall,
        "warmup_s": warmup,
        "cpu_cores": (cpu_seconds() - c0) / wall,
    }


def section_train(device: str, preset: str, mode: str, num_envs: int, tiny: bool) -> dict[str, Any]:
    import torch

    from dqn_core.config import load_config
    from dqn_core.run import Trainer

    one_env = preset in ("der", "drq-eps")  # the data-efficient presets: 1 env, python backend
    if tiny:  # a dry run of the paths: few updates (DrQ's network is ~9x DER's on a CPU)
        if one_env:  # one update an agent step: 60 of them
            steps, starts, log_every = 120 * num_envs, 60 * num_envs, 20 * num_envs
        else:  # one update every 4 agent steps: 50 an env
            steps, starts, log_every = 400 * num_envs, 200 * num_envs, 100 * num_envs
    elif one_env:
        steps, starts, log_every = 6_000, 1_600, 500
    else:
        # 1,500 updates or more in the learning phase. The H200 of 2026-12-04 ran ~200
        # eager updates/s here: at 2,000 steps an env (then) the 64-env section held
        # 24,000 updates and ran past its 100 s limit.
        steps = max(8_000, 500 * num_envs)
        starts, log_every = steps // 4, steps // 16
    sets = [
        "env.game=Pong",
        f"env.num_envs={num_envs}",
        f"env.backend={'python' if one_env else 'native'}",
        f"train.total_steps={steps}",
        f"train.learning_starts={starts}",
        f"train.log_every_steps={log_every}",
        f"train.checkpoint_every_steps={10 * steps}",
        f"eval.every_steps={10 * steps}",
        "eval.episodes=1",
        "eval.max_steps=10",
        "tracking.mlflow=false",
        "tracking.progress=false",
        f"train.device={device}",
        f"train.compile={mode}",
    ]
    threads = 1 if tiny else int(os.environ.get("GPU_BENCH_THREADS", "0"))
    if threads:  # tiny: beside other work, OpenMP threads spinning for held cores crawl
        sets.append(f"train.torch_threads={threads}")
    if not one_env:
        sets.append(f"replay.capacity={10_000 if tiny else 100_000}")
    cfg = load_config(preset, sets=sets)
    with tempfile.TemporaryDirectory() as tmp, GpuSampler(device) as gpu:
        trainer = Trainer(cfg, Path(tmp) / "run", quiet=True)
        c0, t0 = cpu_seconds(), time.perf_counter()
        trainer.run()
        wall = time.perf_counter() - t0
        cores = (cpu_seconds() - c0) / wall
        with (Path(tmp) / "run" / "metrics.csv").open() as f:
            rows = [r for r in csv.DictReader(f) if r["train/episodes"]]
    # Learning phase: from the first log point a window after learning starts, to the
    # last one before the final row (whose time includes the evaluation).
    rows = [r for r in rows if int(r["step"]) >= starts + log_every]
    first, last = rows[0], rows[-2] if len(rows) > 2 else rows[-1]
    rate = (int(last["step"]) - int(first["step"])) / (
        float(last["time_s"]) - float(first["time_s"])
    )
    per_step = trainer.learner.updates / max(1, steps - starts)
    loop = dict(trainer.timers)
    total = sum(loop.values()) or 1.0
    learn = dict(getattr(trainer.learner, "timers", {}) or {})
    return {
        "agent_steps_per_s": rate,
        "updates_per_s": rate * per_step,
        "updates": trainer.learner.updates,
        "steps": steps,
        "split": {k: v / total for k, v in loop.items()},
        "learn_ms": {k: 1000 * v / max(1, trainer.learner.updates) for k, v in learn.items()},
        "cpu_cores": cores,
        "gpu_util_mean": gpu.mean(),
        "torch_threads": torch.get_num_threads(),
    }


def section_parallel(copies: int, inner: str, device: str, tiny: bool) -> dict[str, Any]:
    """``copies`` processes of section ``inner`` at once, each with its share of the cores."""
    env = section_env(os.environ)
    env["GPU_BENCH_THREADS"] = str(max(1, (os.cpu_count() or 1) // copies))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--section", inner, "--device", device]
    with GpuSampler(device) as gpu:
        procs = [
            subprocess.Popen(cmd + (["--tiny"] if tiny else []), stdout=subprocess.PIPE, env=env)
            for _ in range(copies)
        ]
        outs = [p.communicate()[0].decode() for p in procs]
    runs = []
    for p, out in zip(procs, outs, strict=True):
        lines = [ln for ln in out.splitlines() if ln.startswith("{")]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"a copy of {inner} failed ({p.returncode})")
        runs.append(json.loads(lines[-1]))
    total = sum(r["agent_steps_per_s"] for r in runs)
    return {
        "agent_steps_per_s": total,
        "updates_per_s": sum(r["updates_per_s"] for r in runs),
        "per_run_agent_steps_per_s": [r["agent_steps_per_s"] for r in runs],
        "cpu_cores": sum(r["cpu_cores"] for r in runs),
        "gpu_util_mean": gpu.mean(),
        "torch_threads": runs[0]["torch_threads"],
    }


def run_section(name: str, device: str, tiny: bool) -> dict[str, Any]:
    kind, *rest = name.split("-")
    if kind.startswith("par") and kind[3:].isdigit():
        return section_parallel(int(kind[3:]), "-".join(rest), device, tiny)
    if kind == "copy":
        return section_copy(device, tiny)
    if kind == "learner":
        preset, mode = rest[0], "-".join(rest[1:])
        return section_learner(device, "nature-dqn" if preset == "nature" else preset, mode, tiny)
    if kind == "nature":
        mode, envs = "-".join(rest[:-1]), int(rest[-1].removeprefix("n"))
        return section_train(device, "nature-dqn", mode, envs, tiny)
    if kind == "der":
        return section_train(device, "der", "-".join(rest), 1, tiny)
    if kind == "drq":
        return section_train(device, "drq-eps", "-".join(rest), 1, tiny)
    raise ValueError(f"unknown section {name!r}")


# ------------------------------------------------------------------ driver
def section_env(environ: Mapping[str, str]) -> dict[str, str]:
    """A section's environment: the repo first on PYTHONPATH, then the caller's entries
    (gpu_check.sh puts the carried gymnasium/ale-py wheels there; dropping them made
    every section that builds an env fail on the first GPU machine)."""
    path = os.pathsep.join(p for p in (str(REPO), environ.get("PYTHONPATH", "")) if p)
    return {**environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def plan(compiled: str, envs: list[int], tiny: bool = False) -> list[str]:
    names = ["copy", "learner-nature-none", "learner-der-none"]
    if compiled != "none":
        names += [f"learner-nature-{compiled}", f"learner-der-{compiled}"]
    names += [f"nature-none-n{n}" for n in envs] + ["der-none", "drq-none"]
    names += ["par2-der-none"] if tiny else ["par4-der-none", "par8-der-none"]
    if compiled != "none":
        names += [f"nature-{compiled}-n{n}" for n in reversed(envs)]
        names += [f"der-{compiled}", f"drq-{compiled}"]
    return names


def machine(device: str) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": device,
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def summary(results: list[dict[str, Any]]) -> str:
    lines = ["| section | agent steps/s | updates/s | CPU cores | GPU util % | notes |"]
    lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        if r.get("status") != "ok":
            lines.append(f"| {r['section']} | | | | | {r.get('status')} |")
            continue
        fmt = lambda v: "" if v is None else f"{v:,.1f}"  # noqa: E731
        note = ""
        if "split" in r:
            note = ", ".join(f"{k} {v:.0%}" for k, v in r["split"].items())
        elif "per_run_agent_steps_per_s" in r:
            note = "per run " + ", ".join(f"{v:,.1f}" for v in r["per_run_agent_steps_per_s"])
        elif "pageable_ms" in r:
            note = ", ".join(f"{k} {v:.3f}" for k, v in r.items() if k.endswith("_ms"))
        elif "warmup_s" in r:
            note = f"warm-up {r['warmup_s']:.1f} s"
        lines.append(
            f"| {r['section']} | {fmt(r.get('agent_steps_per_s'))} | {fmt(r.get('updates_per_s'))}"
            f" | {fmt(r.get('cpu_cores'))} | {fmt(r.get('gpu_util_mean'))} | {note} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="folder for results.jsonl, summary.md (required)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny budgets: a dry run of every path")
    ap.add_argument("--envs", default=None, help="native env counts (default 1,8,32,64; tiny 1,2)")
    ap.add_argument(
        "--compile", default=None, help="compiled mode (default reduce-overhead; tiny: none)"
    )
    ap.add_argument("--budget-s", type=float, default=420.0, help="all sections together")
    ap.add_argument("--section-s", type=float, default=150.0, help="one section at most")
    ap.add_argument("--only", default=None, help="comma-separated section names")
    ap.add_argument("--section", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.section:  # worker: one section in this process
        sys.path.insert(0, str(REPO))
        if args.tiny:  # as section_train's runs: one thread, so a busy CPU cannot stall it
            import torch

            torch.set_num_threads(1)
        t0 = time.perf_counter()
        result = run_section(args.section, args.device, args.tiny)
        result.update(section=args.section, status="ok", wall_s=time.perf_counter() - t0)
        print(json.dumps(result), flush=True)
        return 0
    if args.out is None:
        ap.error("--out is required")
    envs = [int(n) for n in (args.envs or ("1,2" if args.tiny else "1,8,32,64")).split(",")]
    compiled = args.compile or ("none" if args.tiny else "reduce-overhead")
    names = args.only.split(",") if args.only else plan(compiled, envs, args.tiny)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "machine.json").write_text(json.dumps(machine(args.device), indent=1) + "\n")
    deadline = time.monotonic() + args.budget_s
    results: list[dict[str, Any]] = []
    env = section_env(os.environ)
    for i, name in enumerate(names, 1):
        left = deadline - time.monotonic()
        if left < 10:
            result: dict[str, Any] = {"section": name, "status": "skipped: budget spent"}
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--section", name]
            cmd += ["--device", args.device] + (["--tiny"] if args.tiny else [])
            # Its own process group: a section that runs past its limit is killed with
            # whatever it started (the par<K> sections' copies), not left on the GPU.
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                start_new_session=True,
            )  # fmt: skip
            try:
                stdout, stderr = proc.communicate(timeout=min(args.section_s, left))
                lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
                if proc.returncode == 0 and lines:
                    result = json.loads(lines[-1])
                else:
                    tail = (stderr or stdout).strip().splitlines()[-3:]
                    result = {"section": name, "status": f"failed ({proc.returncode}): {tail}"}
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
                result = {
                    "section": name,
                    "status": f"timed out ({min(args.section_s, left):.0f} s)",
                }
        results.append(result)
        with (args.out / "results.jsonl").open("a") as f:
            f.write(json.dumps(result) + "\n")
        print(f"[{i}/{len(names)}] {json.dumps(result)}", flush=True)
    (args.out / "summary.md").write_text(summary(results))
    print(summary(results))
    return 0 if all(r.get("status") == "ok" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
