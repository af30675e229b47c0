"""The false-failure chances the learning tests state are the ones their measured rates give."""

from __future__ import annotations

import csv
import re
import tomllib
from pathlib import Path

import pytest
import test_learning_slow
import test_train
from learning_rates import (
    DATA,
    STATEMENT,
    Rate,
    false_failure,
    measured_rates,
    statement,
)

#: Every learning test, with the (k, n) its code uses for each check it states.
LEARNING_TESTS = {
    test_train.test_cartpole_preset_learns_through_dqn_train: {
        "cartpole-dqn-train": (1, len(test_train.DQN_TRAIN_SEEDS)),
    },
    test_learning_slow.test_reaches_475_on_k_of_n_seeds: {
        name: (test_learning_slow.K, len(test_learning_slow.SEEDS))
        for name in test_learning_slow.SETTINGS
    },
    test_learning_slow.test_ci_cartpole_preset_solves_on_one_of_three_seeds: {
        "cartpole": (1, len(test_learning_slow.CI_SEEDS)),
    },
}


def stated(doc: str) -> list[re.Match[str]]:
    return list(STATEMENT.finditer(" ".join(doc.split())))


def check_statement(match: re.Match[str], rates: dict[str, Rate]) -> None:
    """Raise AssertionError unless every number of the sentence follows from the rates."""
    check, k, n = match["check"], int(match["k"]), int(match["n"])
    rate = rates[check]
    expected = statement(check, n, k, rate)
    assert match.group(0) == expected, f"stated: {match.group(0)}\nmeasured: {expected}"


def test_the_csv_covers_every_check_on_ten_seeds_at_least() -> None:
    with DATA.open() as f:
        rows = list(csv.DictReader(f))
    for check in ("cartpole-dqn-train", *test_learning_slow.SETTINGS):
        seeds = {int(r["seed"]) for r in rows if r["check"] == check}
        assert len(seeds) >= 10, (check, sorted(seeds))
        threads = {r["threads"] for r in rows if r["check"] == check}
        assert {"1", "2"} <= threads, (check, threads)


@pytest.mark.parametrize("test", list(LEARNING_TESTS), ids=lambda t: t.__name__)
def test_each_learning_test_states_its_false_failure_chance(test) -> None:
    rates = measured_rates()
    matches = stated(test.__doc__ or "")
    assert {m["check"]: (int(m["k"]), int(m["n"])) for m in matches} == LEARNING_TESTS[test]
    for match in matches:
        check_statement(match, rates)


def test_a_wrong_stated_number_is_caught() -> None:
    rates = {"x": Rate(9, 10)}
    right = statement("x", 3, 1, rates["x"])
    (match,) = stated(right)
    check_statement(match, rates)
    for wrong in (right.replace("9/10", "10/10"), right.replace("needs 1 of 3", "needs 1 of 4")):
        (bad,) = stated(wrong)
        with pytest.raises(AssertionError):
            check_statement(bad, rates)


def test_the_rate_maths() -> None:
    assert Rate(10, 10).lower95() == pytest.approx(0.05 ** (1 / 10), abs=1e-9)
    assert Rate(0, 10).lower95() == 0.0
    assert false_failure(0.9, 1, 1) == pytest.approx(0.1)
    assert false_failure(0.5, 3, 2) == pytest.approx(0.5)  # P(Bin(3, .5) < 2) = 4/8
    assert false_failure(1.0, 6, 3) == 0.0


def test_ci_runs_the_default_selection_and_the_short_learning_checks() -> None:
    """`make test` (CI) selects pytest's default markers plus `slow and ci`, nothing looser."""
    root = Path(__file__).resolve().parents[1]
    addopts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"][
        "addopts"
    ]
    default = re.search(r"-m '([^']+)'", addopts)
    assert default is not None, addopts
    makefile = (root / "Makefile").read_text()
    selection = re.search(r"^CI_SELECTION := (.+)$", makefile, flags=re.MULTILINE)
    assert selection is not None, "Makefile has no CI_SELECTION"
    assert selection.group(1) == f"({default.group(1)}) or (slow and ci)"
    test_target = re.search(r"^test: (.+)$", makefile, flags=re.MULTILINE)
    assert test_target is not None
    assert "pytest-ci" in test_target.group(1).split()
