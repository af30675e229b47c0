"""scripts/grey_census.py: colour boundaries lost in the grey image, on synthetic and real screens."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from grey_census import Tally, play, rgb  # noqa: E402


def grey_of(screen: np.ndarray) -> np.ndarray:
    return (screen @ np.array([0.299, 0.587, 0.114])).round().astype(np.uint8)


def test_a_boundary_between_two_colours_of_one_grey_is_lost() -> None:
    screen = np.zeros((4, 6, 3), np.uint8)
    screen[:, 3:] = (111, 111, 111)  # grey 111
    screen[1:3, 4] = (162, 98, 33)  # grey 110: a "car" on the grey-111 street
    tally = Tally()
    tally.add(screen, grey_of(screen))
    # black|street: 4 horizontal boundaries; the car's 2 pixels: 2 left + 2 right + 1 up + 1 down
    assert tally.boundaries == 4 + 6
    assert tally.lost == 6
    assert tally.screens == tally.screens_losing == 1
    (key, n), *_ = tally.pairs.most_common()
    assert n == 6
    assert {rgb(key >> 24), rgb(key & 0xFFFFFF)} == {(111, 111, 111), (162, 98, 33)}
    assert tally.describe(1) == "(111, 111, 111) / (162, 98, 33) (greys 111, 110): 100%"


def test_a_gap_wider_than_the_threshold_is_kept_and_screens_accumulate() -> None:
    screen = np.zeros((3, 3, 3), np.uint8)
    screen[1, 1] = (3, 3, 3)  # grey 3: three levels from black
    tally = Tally()
    for _ in range(2):
        tally.add(screen, grey_of(screen))
    assert (tally.screens, tally.boundaries, tally.lost, tally.screens_losing) == (2, 8, 0, 0)
    assert tally.lost_share == 0.0 and tally.describe(3) == "-"
    tally.add(screen, grey_of(screen), gap=3)
    assert tally.lost == 4 and tally.screens_losing == 1
    assert abs(tally.lost_share - 4 / 12) < 1e-12


def test_ale_py_bankheist_loses_the_car_on_a_street_of_its_grey() -> None:
    """Random play on ale-py's real ROM meets the car on the street of its grey (Finding 8)."""
    md5, tally = play("BankHeist", None, 400, 0, 2)
    assert md5 == "00ce0bdd43aed84a983bef38fe7f5ee3"
    assert tally.screens == 400 and tally.boundaries > 0
    car, street = 162 << 16 | 98 << 8 | 33, 111 << 16 | 111 << 8 | 111
    assert tally.pairs[min(car, street) << 24 | max(car, street)] > 0
    assert 0 < tally.screens_losing < tally.screens
