"""Measured success rates of the learning checks, and the false-failure chances they imply.

The rates come from ``docs/data/learning_success.csv`` (written by
``scripts/learning_success.py``: each check on seeds x ``train.torch_threads`` x
torch's kernels, the vectorised ones of this CPU and the scalar ones of
``ATEN_CPU_CAPABILITY=default``). A run is one draw of the check's outcome; rows
of one seed and kernel set whose thread counts gave the very same run (same
solve step and final mean) are one draw, not several: on these small networks
torch does not split the work across threads, so the thread count changed
nothing (see docs/learning-checks.md).

A learning test that needs ``k`` of ``n`` seeds to solve fails by chance with
probability ``P(Binomial(n, p) < k)``. Each learning test's docstring states
that number for ``p`` = the measured rate and for ``p`` = its one-sided 95%
lower bound (Clopper-Pearson), in the sentence :data:`STATEMENT` matches;
``tests/test_learning_rates.py`` recomputes every stated number from the CSV.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "docs" / "data" / "learning_success.csv"

#: The sentence a learning test's docstring uses to state its false-failure chance
#: (whitespace-normalised before matching).
STATEMENT = re.compile(
    r"check `(?P<check>[\w-]+)`, needs (?P<k>\d+) of (?P<n>\d+) seeds: false-failure "
    r"chance (?P<at_p>[\d.]+)% at the measured rate (?P<solved>\d+)/(?P<draws>\d+), "
    r"(?P<at_lower>[\d.]+)% at its one-sided 95% lower bound (?P<lower>\d(?:\.\d+)?)"
)


@dataclass(frozen=True)
class Rate:
    solved: int
    runs: int

    @property
    def p(self) -> float:
        return self.solved / self.runs

    def lower95(self) -> float:
        """One-sided 95% Clopper-Pearson lower bound of the success probability."""
        if self.solved == 0:
            return 0.0
        lo, hi = 0.0, self.p
        for _ in range(60):  # bisection on P(Bin(runs, q) >= solved) = 0.05
            mid = (lo + hi) / 2
            if binomial_tail_at_least(self.runs, mid, self.solved) < 0.05:
                lo = mid
            else:
                hi = mid
        return lo


def binomial_tail_at_least(n: int, p: float, k: int) -> float:
    """P(Binomial(n, p) >= k)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def false_failure(p: float, n: int, k: int) -> float:
    """Chance that fewer than ``k`` of ``n`` independent seeds solve, each with probability p."""
    return 1.0 - binomial_tail_at_least(n, p, k)


def draws(path: Path = DATA) -> dict[str, list[dict[str, str]]]:
    """The independent runs of each check: one row per (seed, kernels, distinct outcome)."""
    out: dict[str, list[dict[str, str]]] = {}
    seen: set[tuple[str, ...]] = set()
    with path.open() as f:
        for row in csv.DictReader(f):
            key = (row["check"], row["seed"], row["kernels"], row["step"], row["final_mean"])
            if key in seen:  # another thread count, the very same run
                continue
            seen.add(key)
            out.setdefault(row["check"], []).append(row)
    return out


def measured_rates(path: Path = DATA) -> dict[str, Rate]:
    """Solved draws / draws per check."""
    return {
        check: Rate(sum(int(r["solved"]) for r in rows), len(rows))
        for check, rows in draws(path).items()
    }


def statement(check: str, n: int, k: int, rate: Rate) -> str:
    """The docstring sentence for a test that needs ``k`` of ``n`` seeds of ``check``."""
    lower = rate.lower95()
    return (
        f"check `{check}`, needs {k} of {n} seeds: false-failure chance "
        f"{100 * false_failure(rate.p, n, k):.2g}% at the measured rate "
        f"{rate.solved}/{rate.runs}, {100 * false_failure(lower, n, k):.2g}% at its "
        f"one-sided 95% lower bound {lower:.3f}"
    )
