"""The canvas of every figure: fixed sizes, one style, Agg figures, PNG and SVG files.

Figures are ``matplotlib.figure.Figure`` objects with the Agg canvas: no
pyplot, no display, no global figure state. Sizes are fixed (pixels = inches x
100 dpi); SVGs carry no date and a fixed hash salt.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["DPI", "FIGSIZE", "grid_figsize", "wrap_title"]

DPI = 100
#: Size in inches of single-panel figures (640 x 400 pixels).
FIGSIZE = (6.4, 4.0)

# Any keys: matplotlib types rc_context with a Literal of every rc name.
_STYLE: dict[Any, Any] = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 7,
    "legend.framealpha": 0.8,
    "svg.hashsalt": "dqn-harness",
}
_OURS = "tab:blue"
_OURS_COLOURS = (_OURS, "tab:orange", "tab:cyan", "tab:olive", "tab:pink")
_TRAIN = "0.45"  # grey: training returns, under the evaluation curves
_REFERENCE_COLOURS = ("tab:red", "tab:green", "tab:purple", "tab:brown", "tab:gray")
_FRAMES_AXIS = "Emulator frames"


def grid_figsize(n_panels: int) -> tuple[float, float, int, int]:
    """Size of the all-games page: ``(width_in, height_in, rows, cols)``."""
    cols = min(4, max(1, n_panels))
    rows = math.ceil(max(1, n_panels) / cols)
    return 3.2 * cols, 2.4 * rows + 0.6, rows, cols


def wrap_title(text: str, width_in: float) -> str:
    """``text`` with each line wrapped to what a figure ``width_in`` inches wide shows.

    A suptitle is not wrapped by matplotlib: on a one- or two-panel grid page
    it ran off both edges. About 12 characters an inch at the style's 10-point
    titles.
    """
    chars = max(30, int(width_in * 12))
    return "\n".join(textwrap.fill(line, chars) for line in text.split("\n"))


def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1], metadata={"Date": None})
    return paths
