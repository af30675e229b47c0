"""Does a replay memory fit? The memory this process can still allocate (/proc, cgroups).

Arrays are allocated lazily by the OS, so without this check an oversized
memory fails hours later, when it fills up.
"""

from __future__ import annotations

from pathlib import Path

from dqn_core.config import ConfigError

#: Fraction of the available memory a replay memory may claim; the rest is left
#: for the networks, the environments, Python and the OS page cache.
MEMORY_FRACTION = 0.9


class ReplayMemoryError(ConfigError, MemoryError):
    """``replay.capacity`` does not fit in the memory available to this process."""


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text in ("", "max"):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_headroom() -> int | None:
    """Bytes left under this process's cgroup memory limit (None: no limit found)."""
    root = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates: list[tuple[Path, str, str]] = []
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if controllers == "":  # cgroup v2 (unified)
            for base in (root / rel, root):
                candidates.append((base, "memory.max", "memory.current"))
        elif "memory" in controllers.split(","):  # cgroup v1
            for base in (root / "memory" / rel, root / "memory"):
                candidates.append((base, "memory.limit_in_bytes", "memory.usage_in_bytes"))
    for base, limit_name, usage_name in candidates:
        limit = _read_int(base / limit_name)
        if limit is None or limit >= 1 << 60:  # "max" or the v1 "unlimited" sentinel
            continue
        usage = _read_int(base / usage_name) or 0
        return max(limit - usage, 0)
    return None


def available_memory_bytes() -> int | None:
    """Memory this process can still allocate: MemAvailable, capped by a cgroup limit.

    Returns:
        bytes, or None where neither ``/proc/meminfo`` nor a cgroup limit is readable
        (non-Linux systems): the caller then skips the check.
    """
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    cgroup = _cgroup_headroom()
    if cgroup is not None:
        found.append(cgroup)
    return min(found) if found else None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def check_fits(nbytes: int, capacity: int) -> None:
    """Refuse a memory of ``nbytes`` for ``capacity`` transitions that would not fit.

    Raises:
        ReplayMemoryError: ``nbytes`` exceeds :data:`MEMORY_FRACTION` of
            :func:`available_memory_bytes` (nothing is checked where that is None).
    """
    available = available_memory_bytes()
    if available is None:
        return
    usable = int(available * MEMORY_FRACTION)
    if nbytes <= usable:
        return
    per_transition = nbytes / capacity
    fits = int(usable / per_transition)
    fits = max(fits - fits % 10_000, 0) if fits > 100_000 else fits
    raise ReplayMemoryError(
        f"replay.capacity={capacity} needs {_gib(nbytes)} "
        f"({per_transition:,.0f} bytes a transition); {_gib(available)} available "
        f"(at most {MEMORY_FRACTION:.0%} of it is used): at most ~{fits} transitions fit. "
        "Lower replay.capacity or free memory."
    )
