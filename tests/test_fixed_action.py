"""scripts/fixed_action.py: one action pressed every step, on the real ROM."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from fixed_action import fixed_action_scores  # noqa: E402

pytestmark = pytest.mark.integration


def test_holding_up_crosses_freeway_and_holding_noop_never_scores() -> None:
    up, up_steps = fixed_action_scores("Freeway", "up", 2, "drq-eps", 0.0, 0, max_steps=400)
    noop, _ = fixed_action_scores("Freeway", "NOOP", 1, "drq-eps", 0.0, 0, max_steps=400)
    assert up_steps == [400, 400]
    assert min(up) >= 2 and noop == [0.0]


def test_an_action_the_game_lacks_is_refused_with_the_games_actions() -> None:
    with pytest.raises(
        ValueError, match="Freeway has no action 'FIRE'; its actions: NOOP, UP, DOWN"
    ):
        fixed_action_scores("Freeway", "FIRE", 1, "drq-eps", 0.0, 0, max_steps=10)
    with pytest.raises(ValueError, match="outside"):
        fixed_action_scores("Freeway", "UP", 1, "drq-eps", 1.5, 0, max_steps=10)
