"""metrics.csv and eval.csv: append, truncate on resume, files of earlier releases."""

from __future__ import annotations

import csv

import pytest

from dqn_core.run.runlog import METRIC_COLUMNS, CsvLog


def test_truncates_to_the_checkpoint_step_and_appends(tmp_path):
    log = CsvLog(tmp_path / "m.csv", ("step", "x"))
    log.open(keep_until_step=0)
    log.append([{"step": s, "x": s / 2} for s in (1, 2, 3)])
    log.close()
    assert log.open(keep_until_step=2) == 2
    log.append([{"step": 3, "x": 9.0}])
    log.close()
    assert [(r["step"], r["x"]) for r in log.read_rows()] == [
        ("1", "0.5"),
        ("2", "1.0"),
        ("3", "9.0"),
    ]


def test_a_file_from_an_earlier_release_resumes_under_the_new_header(tmp_path):
    """A run started before columns were added or renamed keeps its rows on resume."""
    old = [
        "step",
        "frames",
        "time_s",
        "train/episode_return",
        "train/episode_length",  # since renamed train/episode_frames
        "train/steps_per_second",
    ]
    path = tmp_path / "metrics.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(old)
        w.writerow([100, 400, 1.5, 3.0, 800, 90.0])
        w.writerow([200, 800, 3.0, "", "", 80.0])
    log = CsvLog(path, METRIC_COLUMNS)
    assert log.open(keep_until_step=100) == 1
    log.append([{"step": 200, "frames": 800, "train/return_last100": 3.0}])
    log.close()
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == METRIC_COLUMNS
        first, second = list(reader)
    assert first["train/episode_frames"] == "800" and first["train/return_last100"] == ""
    assert first["train/steps_per_second"] == "90.0"
    assert second["step"] == "200" and second["train/return_last100"] == "3.0"


def test_a_file_with_unknown_columns_is_refused(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("step,frames,mystery\n1,4,0\n")
    with pytest.raises(ValueError, match="unexpected header"):
        CsvLog(path, METRIC_COLUMNS).read_rows()
