"""scripts/bankheist_contrast.py: the car's grey beside its street's, on synthetic and real screens."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from dqn_core.config import load_config
from dqn_core.envs import make_vec_env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bankheist_contrast import CAR, car_and_street, car_colour, census  # noqa: E402

NTSC_CAR = CAR["00ce0bdd43aed84a983bef38fe7f5ee3"]


def screen(height: int, street: tuple[int, int, int], car_at: tuple[int, int] | None) -> np.ndarray:
    rgb = np.zeros((height, 160, 3), np.uint8)
    rgb[:, :] = street
    rgb[:, 80:] = (10, 20, 30)  # a wall colour, away from the car
    if car_at is not None:
        y, x = car_at
        rgb[y : y + 8, x : x + 6] = NTSC_CAR
    return rgb


def grey_of(rgb: np.ndarray) -> np.ndarray:
    return (rgb @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)


def test_the_street_is_the_commonest_colour_around_the_car() -> None:
    rgb = screen(210, (111, 111, 111), (100, 40))
    assert car_and_street(rgb, grey_of(rgb), NTSC_CAR) == ((111, 111, 111), 111, 110)
    # the same on a PAL-sized screen, whose maze starts lower
    rgb = screen(250, (0, 0, 0), (120, 40))
    assert car_and_street(rgb, grey_of(rgb), NTSC_CAR) == ((0, 0, 0), 0, 110)


def test_no_car_in_the_maze_counts_nothing() -> None:
    rgb = screen(210, (0, 0, 0), None)
    assert car_and_street(rgb, grey_of(rgb), NTSC_CAR) is None
    rgb = screen(210, (0, 0, 0), (180, 40))  # the bottom bar's rows, not the maze
    assert car_and_street(rgb, grey_of(rgb), NTSC_CAR) is None


def test_on_ale_pys_dump_the_car_takes_the_grey_of_one_street_shade() -> None:
    """The reading of Finding 8: random play meets the streets whose grey is the car's."""
    config = load_config("drq-eps", sets=["env.game=BankHeist"])
    md5, car = car_colour(config)
    assert md5 == "00ce0bdd43aed84a983bef38fe7f5ee3" and car == NTSC_CAR
    env = make_vec_env(config, 1, 5, evaluation=True)
    rng = np.random.default_rng(5)
    counts, steps, hidden, _ = census(
        env, lambda obs: rng.integers(0, env.num_actions, size=1), car, 1
    )
    env.close()
    assert sum(counts.values()) > steps / 2  # the car is found on most steps
    assert counts[((111, 111, 111), 111, 110)] > 0
    assert {street_grey for _, street_grey, _ in counts} >= {0, 74, 111, 142}
    assert 0 < hidden < counts[((111, 111, 111), 111, 110)]  # whole stacks are rarer
