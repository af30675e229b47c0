"""Which code ran, and where: the git commit of the installed source tree, the CPU.

Foundation module (imports nothing from dqn_core): the run loop writes both
into ``summary.json``, the tracker into MLflow tags. The CPU matters for a
table that grows across machines: the same seed gives another trajectory on
another CPU, and speeds differ.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit() -> tuple[str, str]:
    """(commit, dirty) of the code that runs: ``("unknown", "unknown")`` outside git.

    ``DQN_GIT_COMMIT`` overrides the lookup (container images have no ``.git``:
    bake the commit in at build time).
    """
    env = os.environ.get("DQN_GIT_COMMIT", "").strip()
    if env:
        return env, "unknown"
    here = Path(__file__).resolve().parent
    commit = _git(["rev-parse", "HEAD"], here)
    if not commit or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return "unknown", "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no"], here)
    return commit, "unknown" if status is None else str(bool(status)).lower()


def describe_cpu(cpuinfo: str, logical_cpus: int | None) -> str:
    """One line naming a CPU from the text of Linux's ``/proc/cpuinfo``.

    Virtual machines often report a generic model name ("Intel(R) Xeon(R)
    Processor"), so the family and model numbers and whether AVX-512 is there
    (which changes the learner's speed about 2x) come with it.

    Args:
        cpuinfo: the file's text (its first processor block is read).
        logical_cpus: CPUs this process may use, or None.

    Returns:
        e.g. ``"Intel(R) Xeon(R) Processor (family 6 model 167, avx512f), 2 logical CPUs"``;
        ``"unknown"`` when the text names no CPU.
    """
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    name = fields.get("model name", "")
    if not name:
        return "unknown"
    details = []
    if "cpu family" in fields and "model" in fields:
        details.append(f"family {fields['cpu family']} model {fields['model']}")
    flags = (fields.get("flags") or fields.get("features") or "").split()
    if flags:
        details.append("avx512f" if "avx512f" in flags else "no avx512f")
    return _with_count(f"{name} ({', '.join(details)})" if details else name, logical_cpus)


def _with_count(name: str, logical_cpus: int | None) -> str:
    if not logical_cpus:
        return name
    return f"{name}, {logical_cpus} logical CPU{'s' if logical_cpus != 1 else ''}"


def cpu_description() -> str:
    """:func:`describe_cpu` of this machine (``platform.processor()`` off Linux)."""
    try:
        cpus: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    described = describe_cpu(text, cpus)
    if described != "unknown":
        return described
    # No model name (off Linux, or an ARM cpuinfo): what Python knows.
    return _with_count(platform.processor() or platform.machine() or "unknown", cpus)
