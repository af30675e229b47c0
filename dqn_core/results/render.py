"""Rendering tables: formatted cells, Markdown, LaTeX, and the files of one table.

Each table is written as CSV (raw numbers), Markdown and LaTeX (formatted, with
the table's title and notes from ``DataFrame.attrs``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core.envs.protocols import protocol_label
from dqn_core.results.published import frames_label, frames_match

__all__ = ["table_to_latex", "table_to_markdown"]


def _score_digits(reference_value: float) -> int:
    """Decimals for a score of this magnitude: 1234 -> 0, 12.3 -> 1, 1.23 -> 2."""
    a = abs(reference_value) if math.isfinite(reference_value) else 0.0
    return 0 if a >= 1000 else 1 if a >= 10 else 2


def _fmt_num(value: object, digits: int | None = None) -> str:
    """One table cell: ``–`` for missing, yes/no, thousands separators, fixed decimals."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        if digits is None:
            if v.is_integer():
                return f"{int(v):,}"
            digits = _score_digits(v)
        text = f"{v:,.{digits}f}"
        # "-0.000" reads as a sign that is not there.
        return (
            text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text
        )
    return str(value)


def _display_per_game(df: pd.DataFrame) -> pd.DataFrame:
    digits = [_score_digits(float(m)) for m in df["score_mean"]]

    def scores(column: str) -> list[str]:
        """Our numbers share the decimals of the row's mean, so they line up."""
        return [_fmt_num(v, d) for v, d in zip(df[column], digits, strict=True)]

    def published(column: str) -> list[str]:
        """Published numbers keep their own precision (often another scale than ours)."""
        return [_fmt_num(v) for v in df[column]]

    out = pd.DataFrame(
        {
            "Game": df["game"],
            "Runs": df["runs"].map(_fmt_num),
            "Ours (mean ± std)": [
                f"{m} ± {s}" if s != "–" else m
                for m, s in zip(scores("score_mean"), scores("score_std"), strict=True)
            ],
            "95% CI": [
                f"[{lo}, {hi}]" if lo != "–" else "–"
                for lo, hi in zip(scores("ci95_low"), scores("ci95_high"), strict=True)
            ],
            "HNS": df["hns"].map(lambda v: _fmt_num(v, 3)),
        }
    )
    if "published" in df:
        alg = str(df["published_algorithm"].iloc[0]) if len(df) else "published"
        pf = df.attrs.get("published_frames")
        budget = df.attrs.get("budget_frames", 0)
        measure = str(df.attrs.get("measure", ""))
        if measure == "training returns":
            # The like-for-like number beside a published training return.
            out["Ours, training return"] = scores("train_return")
        kind = f", {measure}" if measure and measure != "evaluation scores" else ""
        head = f"{alg} ({frames_label(pf)} frames{kind})" if pf else alg
        if pf and not frames_match(int(budget), int(pf)):
            head = f"{alg} (published at {frames_label(pf)} frames; ours {frames_label(budget)})"
        out[head] = published("published")
        out["Ours − published"] = scores("diff")
        out["Published in our CI"] = df["published_in_ci"].map(_fmt_num)
        for alg_x in df.attrs.get("extras", []):
            label = f"{alg_x} ({frames_label(pf)} frames)" if pf else alg_x
            out[label] = published(alg_x)
        for alg_x in df.attrs.get("percentiles", []):
            out[f"Percentile in {alg_x} runs"] = df[f"{alg_x} percentile"].map(
                lambda v: _fmt_num(v, 0)
            )
            out[f"{alg}'s percentile in {alg_x} runs"] = df[f"published {alg_x} percentile"].map(
                lambda v: _fmt_num(v, 0)
            )
    return out


_METRIC_LABELS = {
    "median": "Median",
    "iqm": "IQM",
    "mean": "Mean",
    "optimality_gap": "Optimality gap",
}


def _display_aggregate(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (_g, src, alg), part in df.groupby(["group", "source", "algorithm"], sort=False):
        first = part.iloc[0]
        row = {
            "Algorithm": alg,
            "Source": src,
            "Protocol": first["protocol"],
            "Frames": frames_label(first["frames"]),
            "Games": _fmt_num(first["games"]),
            "Runs/game": _fmt_num(first["runs_per_game"]),
        }
        for metric, label in _METRIC_LABELS.items():
            hit = part[part["metric"] == metric]
            if hit.empty:
                row[label] = "–"
                continue
            h = hit.iloc[0]
            text = _fmt_num(h["point"], 3)
            if math.isfinite(h["ci_low"]):
                text += f" [{_fmt_num(h['ci_low'], 3)}, {_fmt_num(h['ci_high'], 3)}]"
            row[label] = text
        rows.append(row)
    return pd.DataFrame(rows)


def _display_poi(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "X": df["x"],
            "Y": df["y"],
            "Protocol": df["protocol"],
            "Frames": df["frames"].map(frames_label),
            "Games": df["games"].map(_fmt_num),
            "P(X > Y) [95% CI]": [
                f"{p:.3f} [{lo:.3f}, {hi:.3f}]"
                for p, lo, hi in zip(df["p_x_better"], df["ci_low"], df["ci_high"], strict=True)
            ],
        }
    )


def _display_runs(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Preset": df["preset"],
            "Protocol": [
                protocol_label(p, int(r))
                for p, r in zip(df["protocol"], df["protocol_revision"], strict=True)
            ],
            "Game": df["game"],
            "Seed": df["seed"].map(str),
            "Frames": [
                f"{frames_label(f)} / {frames_label(b)}"
                if math.isfinite(f)
                else f"– / {frames_label(b)}"
                for f, b in zip(df["final_frames"], df["budget_frames"], strict=True)
            ],
            "Final score": df["final_score"].map(_fmt_num),
            "Episodes": df["final_episodes"].map(_fmt_num),
            "Wall time (s)": df["wall_time_s"].map(lambda v: _fmt_num(v, 0)),
            "Finished": df["finished"].map(_fmt_num),
            "Commit": [str(c)[:7] if isinstance(c, str) and c else "–" for c in df["git_commit"]],
            "CPU": [c if isinstance(c, str) and c else "not recorded" for c in df["cpu"]],
        }
    )


def _display(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if name.startswith("per_game_"):
        return _display_per_game(df)
    if name == "aggregate":
        return _display_aggregate(df)
    if name == "probability_of_improvement":
        return _display_poi(df)
    if name == "runs":
        return _display_runs(df)
    return df.astype(str)


def table_to_markdown(display: pd.DataFrame, title: str = "", notes: Iterable[str] = ()) -> str:
    """A GitHub-flavoured Markdown table (cells already formatted), with notes below.

    Args:
        display: DataFrame of strings.
        title: optional bold line above the table.
        notes: lines printed as a list under the table.

    Returns:
        Markdown text ending in a newline.
    """

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [f"**{title}**", ""] if title else []
    cols = [str(c) for c in display.columns]
    if len(display):
        lines.append("| " + " | ".join(cell(c) for c in cols) + " |")
        lines.append("| " + " | ".join("---" for _ in cols) + " |")
        for row in display.itertuples(index=False):
            lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    else:
        lines.append("_No rows._")
    note_list = list(notes)
    if note_list:
        lines += ["", *[f"- {n}" for n in note_list]]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "−": "$-$", "–": "--", "≥": r"$\geq$", "×": r"$\times$",
}  # fmt: skip


def _latex_escape(text: object) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def table_to_latex(display: pd.DataFrame, title: str = "", notes: Iterable[str] = ()) -> str:
    """A booktabs LaTeX table (cells already formatted), notes in the caption.

    Args:
        display: DataFrame of strings.
        title: caption text.
        notes: sentences appended to the caption.

    Returns:
        LaTeX source of a ``table`` environment (needs ``\\usepackage{booktabs}``).
    """
    cols = [str(c) for c in display.columns]
    align = "l" * min(1, len(cols)) + "r" * max(0, len(cols) - 1)
    caption = " ".join([f"{title}." if title else "", *notes]).strip()
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in cols) + r" \\",
        r"\midrule",
    ]
    for row in display.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _write_table(out_dir: Path, name: str, df: pd.DataFrame) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / f"{name}.csv", index=False)
    display = _display(name, df)
    title = str(df.attrs.get("title", name))
    notes = [str(n) for n in df.attrs.get("notes", [])]
    (out_dir / f"{name}.md").write_text(table_to_markdown(display, title, notes), encoding="utf-8")
    (out_dir / f"{name}.tex").write_text(table_to_latex(display, title, notes), encoding="utf-8")
