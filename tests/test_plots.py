"""`dqn plot`: the figures exist, are images of the expected size, and say what they show.

Matplotlib writes every text of an SVG (axis labels, titles, legend entries) as
a comment before its glyph paths, so the SVG is checked for the labels and
units a reader needs.
"""

from __future__ import annotations

import importlib.util
import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from dqn_core import plots
from dqn_core.envs.protocols import PROTOCOLS, protocol_label

#: How results name the atari100k protocol at its current revision (atari100k-r2).
A100K = protocol_label("atari100k", PROTOCOLS["atari100k"].revision)

_spec = importlib.util.spec_from_file_location(
    "run_folders", Path(__file__).parent / "data" / "run_folders.py"
)
assert _spec is not None and _spec.loader is not None
run_folders = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_folders)
write_run = run_folders.write_run


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def svg_size_pt(path: Path) -> tuple[float, float]:
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return float(root.attrib["width"].removesuffix("pt")), float(
        root.attrib["height"].removesuffix("pt")
    )


def _smoke_suite(root: Path) -> Path:
    """The smoke suite's shape: nature-dqn, Pong and Breakout, seeds 0-1, 3,000 steps."""
    scores = {"Pong": (-21.0, -20.0), "Breakout": (1.0, 2.0)}
    for game, (first, last) in scores.items():
        for seed in (0, 1):
            write_run(root, preset="nature-dqn", game=game, seed=seed, protocol="nature2015",
                      total_steps=3000, evals={1500: [first, first + seed],
                                               3000: [last, last + 1 + seed]})  # fmt: skip
    return root


def _check_image(stem: Path, size_in: tuple[float, float]) -> None:
    png, svg = stem.with_suffix(".png"), stem.with_suffix(".svg")
    assert png.stat().st_size > 5_000 and svg.stat().st_size > 5_000
    assert png_size(png) == (round(size_in[0] * plots.DPI), round(size_in[1] * plots.DPI))
    assert svg_size_pt(svg) == pytest.approx((size_in[0] * 72, size_in[1] * 72))


def test_smoke_suite_figures(tmp_path: Path) -> None:
    root = _smoke_suite(tmp_path / "smoke")
    paths = plots.plot_suite(root)
    figures = root / "figures"
    group = "nature-dqn_nature2015_12k"
    stems = [f"curve_{group}_Breakout", f"curve_{group}_Pong", f"curves_{group}",
             "iqm_nature2015_12k", "profile_nature2015_12k"]  # fmt: skip
    assert sorted(p.name for p in paths) == sorted(
        f"{s}.{e}" for s in stems for e in ("png", "svg")
    )
    for stem in (f"curve_{group}_Pong", "iqm_nature2015_12k", "profile_nature2015_12k"):
        _check_image(figures / stem, plots.FIGSIZE)
    width, height, rows, cols = plots.grid_figsize(2)
    assert (rows, cols) == (1, 2)
    _check_image(figures / f"curves_{group}", (width, height))

    pong = (figures / f"curve_{group}_Pong.svg").read_text()
    expected = (
        "Emulator frames",
        "Score (raw game score)",
        "nature-dqn: evaluation, mean of 2 seeds",
        "95% CI of the mean",
        "evaluation, individual seeds",
        "training episodes (acting policy), per seed",
        "Pong: nature-dqn, nature2015 protocol",
        "not drawn: DQN (Nature) 18.9 at 200M frames",
    )
    # matplotlib writes each drawn text (titles, labels, legend entries) as an SVG
    # comment before its glyphs: the texts must be among those, not merely in the file.
    drawn = "\n".join(re.findall(r"<!-- (.*?) -->", pong, flags=re.S))
    for text in expected:
        assert text in drawn, text
    iqm = (figures / "iqm_nature2015_12k.svg").read_text()
    for text in ("IQM of human-normalised score", "Emulator frames", "human level (HNS = 1)"):
        assert text in iqm, text
    profile = (figures / "profile_nature2015_12k.svg").read_text()
    assert "Fraction of runs with score" in profile and "nature-dqn: 2 runs x 2 games" in profile


def test_reference_lines_where_the_protocol_and_budget_match(tmp_path: Path) -> None:
    root = tmp_path / "atari100k"
    five = ("alien", "breakout", "freeway", "pong", "qbert")
    run_folders.write_drq_suite(root, runs_per_game=3, games=five)
    plots.plot_suite(root)
    svg = (root / "figures" / f"curve_der_{A100K}_400k_Pong.svg").read_text()
    for label in ("DER (published, 400k frames): -19.3", "DrQ(eps) (published, 400k frames)",
                  "SPR (published, 400k frames)"):  # fmt: skip
        assert label in svg, label
    profile = (root / "figures" / f"profile_{A100K}_400k.svg").read_text()
    assert "der: 3 runs x 5 games" in profile
    assert "DrQ(eps) (published, 100 runs)" in profile and "SPR (published, 100 runs)" in profile
    width, height, rows, cols = plots.grid_figsize(5)
    assert (rows, cols) == (2, 4)
    assert plots.grid_figsize(26)[2:] == (7, 4)
    _check_image(root / "figures" / f"curves_der_{A100K}_400k", (width, height))


def test_dopamine_curve_is_the_machado_reference(tmp_path: Path) -> None:
    root = tmp_path / "atari5"
    for seed in range(2):
        evals = {k * 250_000: [float(k + seed)] for k in range(1, 5)}  # 1M..4M frames
        write_run(root, preset="nature-dqn", game="Breakout", seed=seed, protocol="machado2018",
                  total_steps=1_000_000, evals=evals, eval_epsilon=0.001)  # fmt: skip
    plots.plot_suite(root)
    curve = (root / "figures" / "curve_nature-dqn_machado2018_4M_Breakout.svg").read_text()
    assert "Dopamine DQN (training returns), 5 runs" in curve
    iqm = (root / "figures" / "iqm_machado2018_4M.svg").read_text()
    assert "Dopamine DQN (training returns), 5 runs" in iqm
    profile = (root / "figures" / "profile_machado2018_4M.svg").read_text()
    assert "DQN (Dopamine) (training returns, 5 runs)" in profile


def test_svg_output_is_reproducible(tmp_path: Path) -> None:
    root = _smoke_suite(tmp_path / "smoke")
    first = plots.plot_suite(root, tmp_path / "a")
    plots.plot_suite(root, tmp_path / "b")
    for path in first:
        if path.suffix == ".svg":
            assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_final_scores_beside_the_published_runs(tmp_path: Path) -> None:
    """scores_<group>: a panel a game, ours over DrQ(eps)'s and SPR's runs, the paper dashed."""
    import numpy as np

    from dqn_core.results import reference, run_percentile

    root = tmp_path / "atari100k"
    five = ("alien", "breakout", "freeway", "pong", "qbert")
    used = run_folders.write_drq_suite(root, runs_per_game=3, games=five)
    paths = plots.plot_suite(root)
    stem = root / "figures" / f"scores_der_{A100K}_400k"
    assert stem.with_suffix(".png") in paths and stem.with_suffix(".svg") in paths
    width, height, _, _ = plots.grid_figsize(5)
    _check_image(stem, (width, height))
    drawn = "\n".join(re.findall(r"<!-- (.*?) -->", stem.with_suffix(".svg").read_text(), re.S))
    drq = reference.atari100k_runs("DrQ(eps)")
    for key, game in zip(five, ("Alien", "Breakout", "Freeway", "Pong", "Qbert"), strict=True):
        ours = used.loc[used["game"] == key, "score"].to_numpy()
        pct = run_percentile(float(np.mean(ours)), drq.loc[drq["game"] == key, "score"].to_numpy())
        assert f"{game}: ours at {pct:.0f}% of DrQ(eps)" in drawn, game
    for text in ("ours (3)", "DrQ(eps)", "SPR", "dashed: DER (published per-game score)",
                 "400k frames: final scores (raw)"):  # fmt: skip
        assert text in drawn, text


def test_no_final_scores_figure_without_published_numbers_at_the_budget(tmp_path: Path) -> None:
    root = _smoke_suite(tmp_path / "smoke")  # 12k frames; the published scores are at 200M
    plots.plot_suite(root)
    assert not list((root / "figures").glob("scores_*"))


def test_grid_titles_wrap_to_the_page_width() -> None:
    """A one-panel grid page (3.2 in) wrapped its suptitle nowhere and cut it at both edges."""
    from dqn_core.plots.canvas import wrap_title

    title = "atari100k-drq: drq-eps, atari100k-r2 protocol, 400k frames: final scores (raw)\n" + (
        "ours: a dot a run, bar = mean; DrQ(eps)'s runs: box = quartiles and median"
    )
    narrow = wrap_title(title, plots.grid_figsize(1)[0]).split("\n")
    assert len(narrow) > 2 and max(map(len, narrow)) <= 38
    assert wrap_title(title, plots.grid_figsize(26)[0]) == title  # 12.8 in: unchanged
    assert " ".join(" ".join(narrow).split()) == " ".join(title.split())  # no word lost


def test_final_scores_say_when_the_published_score_is_not_compared(tmp_path: Path) -> None:
    """Prioritized DDQN's paper scores are from human starts: drawn, marked not compared."""
    root = tmp_path / "nature"
    write_run(root, preset="prioritized-ddqn", game="Breakout", seed=0, protocol="nature2015",
              total_steps=50_000_000, evals={50_000_000: [300.0]})  # fmt: skip
    plots.plot_suite(root)
    (svg,) = (root / "figures").glob("scores_*.svg")
    drawn = " ".join(" ".join(re.findall(r"<!-- (.*?) -->", svg.read_text(), re.S)).split())
    assert "not compared: published with human starts" in drawn
