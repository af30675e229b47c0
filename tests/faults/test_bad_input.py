"""Bad input wherever a user types or a file is read: config files and values, games,
run directories made by another config, corrupted and foreign checkpoints.

Every case must end in an error that names the field or the file and says
why, before anything is trained or overwritten; unusable checkpoints are
skipped with the reason and never executed. The config loader itself is
fuzzed with hypothesis in tests/test_config.py
(``test_fuzzed_values_either_load_or_name_the_field``,
``test_fuzzed_documents_never_raise_anything_but_config_error``); here the
same is done one layer up, through the command line's ``--set``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import pickle
import re
import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqn_core import cli
from dqn_core.agent.learner import Learner
from dqn_core.config import field_docs, from_dict
from dqn_core.experiment import evaluate_run
from dqn_core.run.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_name,
    load_checkpoint,
)

from . import (
    RunSpec,
    assert_clean_output,
    check_finished_run,
    run_dqn,
)

pytestmark = pytest.mark.integration

FIELDS = sorted(field_docs())


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file below ``root`` by relative path."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def call_cli(argv: list[str]) -> tuple[int, str, str]:
    """Run ``dqn ARGV`` in this process; returns (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def assert_clear_error(rc: int, out: str, err: str, command: str, *fragments: str) -> str:
    """Exit status 2 and one error message (a YAML parser's may span lines), no traceback."""
    assert rc == 2, (rc, out, err)
    assert out == ""
    assert err.startswith(f"dqn {command}: error: ") and err.count(": error: ") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


class _Payload:
    """Pickles as a call to ``os.system``: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


def write_malicious_checkpoint(path: Path, marker: Path, step: int) -> None:
    """A torch zip file shaped like a dqn-harness checkpoint whose state runs a command."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "step": step}
    torch.save({**payload, "state": _Payload(marker)}, path)


def test_the_malicious_checkpoint_is_live(tmp_path: Path) -> None:
    """Control: an unsafe load of the test's payload does run it (so its refusal means something)."""
    marker = tmp_path / "executed"
    write_malicious_checkpoint(tmp_path / "evil.pt", marker, 1)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.exists()


# --------------------------------------------------------------- config input
def _train_argv(run_dir: Path, *extra: str) -> list[str]:
    return ["train", "--preset", "nature-dqn", "--run-dir", str(run_dir), "--no-mlflow", *extra]


CONFIG_FILES = {
    "malformed YAML": ("agent: {learning_rate: [1,\n", "{path}: malformed YAML"),
    "python tag": ("seed: !!python/object/apply:os.system ['touch {marker}']\n", "malformed YAML"),
    "top-level list": ("- agent\n- train\n", "{path}: expected a mapping at the top level"),
    "unknown field": (
        "agent: {learning_rat: 0.1}\n",
        "agent.learning_rat: unknown field; did you mean learning_rate?",
    ),
    "wrong type": ("train: {batch_size: [32]}\n", "train.batch_size: expected an integer"),
    "out of range": ("agent: {gamma: 1.5}\n", "agent.gamma: 1.5 is above the maximum 1.0"),
    "unknown game": ("env: {game: SpaceInvader}\n", "env.game: unknown game 'SpaceInvader'"),
    "section not a mapping": ("replay: 5\n", "replay: expected a mapping of fields"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILES))
def test_a_bad_config_file_is_refused_naming_the_file_or_field(tmp_path: Path, case: str) -> None:
    marker = tmp_path / "executed"
    text, fragment = CONFIG_FILES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("{marker}", str(marker)))
    run_dir = tmp_path / "run"
    rc, out, err = call_cli(_train_argv(run_dir, "--config", str(path)))
    assert_clear_error(rc, out, err, "train", fragment.replace("{path}", str(path)))
    assert not run_dir.exists()
    assert not marker.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--config", "{tmp}/missing.yaml"], "{tmp}/missing.yaml: cannot read: No such file"),
        (["--config", "{tmp}"], "{tmp}: cannot read: Is a directory"),
        (["--set", "agent.learning_rate"], "expected field=value"),
        (["--set", "agent.learning_rate=[1"], "agent.learning_rate: cannot parse value"),
        (["--steps", "0"], "train.total_steps: 0 is below the minimum 1"),
        (["--seed", "-1"], "seed: -1 is below the minimum 0"),
        (["--game", "CartPole-v1"], "env.game: 'CartPole-v1' is a classic-control env"),
        (["--game", "ALE/Pong-v5", "--set", "env.protocol=nature2016"], "env.protocol"),
    ],
)
def test_bad_command_line_values_are_refused_before_anything_is_written(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    run_dir = tmp_path / "run"
    argv = _train_argv(run_dir, *(a.format(tmp=tmp_path) for a in args))
    rc, out, err = call_cli(argv)
    assert_clear_error(rc, out, err, "train", fragment.format(tmp=tmp_path))
    assert not run_dir.exists()


def test_a_real_process_reports_a_bad_config_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agent: {learning_rate: [1,\n")
    rc, out = run_dqn(_train_argv(tmp_path / "run", "--config", str(path)), tmp_path / "log")
    assert rc == 2, out
    assert_clean_output(out, "a malformed config file")
    assert f"dqn train: error: {path}: malformed YAML" in out


_junk_values = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=16),
    st.sampled_from(
        [
            "",
            "null",
            "~",
            "[1, 2]",
            "{a: 1}",
            "1e400",
            "-1",
            ".nan",
            "-.inf",
            "yes",
            "0x10",
            "2**70",
            "!!python/name:os.system",
            "&a [*a]",
            "'unterminated",
            "99999999999999999999999",
        ]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.one_of(st.sampled_from(FIELDS), st.sampled_from(["agent.lr", "env", "x.y", "seed.z"])),
    value=_junk_values,
)
def test_fuzzed_set_values_are_accepted_or_refused_naming_a_field(key: str, value: str) -> None:
    """``dqn config --set KEY=VALUE``: a valid config, or one error naming a field."""
    rc, out, err = call_cli(["config", "--preset", "nature-dqn", "--set", f"{key}={value}"])
    if rc == 0:
        assert err == ""
        from_dict(yaml.safe_load(out))  # what it printed is a valid config
        return
    message = assert_clear_error(rc, out, err, "config")
    assert any(name in message for name in (key, "--set", *FIELDS)), message


# ------------------------------------------------------------ run directories
@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (
            {"extra": ("agent.learning_rate=0.001",)},
            "agent.learning_rate: run directory has 0.00025",
        ),
        ({"seed": 8}, "seed: run directory has 7, command gives 8"),
        ({"game": "Breakout"}, "env.game: run directory has 'Pong', command gives 'Breakout'"),
        ({"extra": ("replay.capacity=4000",)}, "replay.capacity: run directory has 2000"),
    ],
)
def test_a_run_directory_of_another_config_is_refused_and_left_alone(
    copy_run: Callable[[str], RunSpec], changes: dict[str, Any], fragment: str
) -> None:
    spec = copy_run("run")
    before = snapshot(spec.run_dir)
    rc, out, err = call_cli(replace(spec, steps=800, **changes).cli_args())
    assert rc == 2 and out == "", (rc, out, err)
    assert f"{spec.run_dir} was created by a different config; refusing to resume it" in err
    assert fragment in err and "Use another --run-dir, or pass the same settings." in err
    assert snapshot(spec.run_dir) == before


def test_an_unreadable_run_config_is_refused_and_left_alone(
    copy_run: Callable[[str], RunSpec],
) -> None:
    spec = copy_run("run")
    (spec.run_dir / "config.yaml").write_text("agent: [\n")
    before = snapshot(spec.run_dir)
    rc, out, err = call_cli(spec.cli_args(steps=800))
    assert_clear_error(
        rc, out, err, "train", f"{spec.run_dir}/config.yaml: cannot read the run's config"
    )
    assert snapshot(spec.run_dir) == before


# ---------------------------------------------------------------- checkpoints
def _flip_bytes(path: Path, offset: int = 1 << 20) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        data = fh.read(16)
        fh.seek(offset)
        fh.write(bytes(b ^ 0xFF for b in data))


def test_corrupted_and_foreign_checkpoints_are_skipped_and_never_executed(
    copy_run: Callable[[str], RunSpec], tmp_path: Path
) -> None:
    """Newest first: a foreign file under a checkpoint name, a bit-flipped checkpoint,
    then a good one: the resume names both bad files and why, and goes on from the good one."""
    spec = copy_run("run")
    ckpts = spec.run_dir / "checkpoints"
    marker = tmp_path / "executed"
    write_malicious_checkpoint(ckpts / checkpoint_name(500), marker, 500)
    _flip_bytes(ckpts / checkpoint_name(400))
    rc, out = run_dqn(spec.cli_args(steps=600), tmp_path / "resume.log")
    assert rc == 0, out[-4000:]
    assert not marker.exists()
    assert "Traceback" not in out
    assert (
        f"skipping checkpoint {ckpts}/{checkpoint_name(500)}: not a dqn-harness checkpoint or "
        "an unsafe payload: refused by torch.load(weights_only=True)"
    ) in out
    assert "nothing in it was executed" in out
    assert f"skipping checkpoint {ckpts}/{checkpoint_name(400)}: sha256 " in out
    assert "does not match the manifest's" in out and "(corrupted)" in out
    assert (
        f"falling back to {ckpts}/{checkpoint_name(200)} (step 200): "
        "2 newer checkpoint(s) were unusable"
    ) in out
    assert "resuming from ckpt-000000000200.pt at step 200" in out
    check_finished_run(spec.run_dir, 600)  # the bad files were superseded and removed


def test_all_checkpoints_unusable_stops_the_resume_and_changes_nothing(
    copy_run: Callable[[str], RunSpec], tmp_path: Path
) -> None:
    """Never a silent restart from step 0: the error lists every file and its reason."""
    spec = copy_run("run")
    ckpts = spec.run_dir / "checkpoints"
    (spec.run_dir / "summary.json").unlink()  # a run that was killed before it finished
    _flip_bytes(ckpts / checkpoint_name(400))
    with (ckpts / checkpoint_name(200)).open("r+b") as fh:
        fh.truncate(1000)
    before = snapshot(spec.run_dir)
    rc, out = run_dqn(spec.cli_args(), tmp_path / "resume.log")
    assert rc == 1 and "Traceback" not in out, out[-4000:]
    assert (
        f"dqn train: error: CheckpointError: all 2 checkpoints in {ckpts} are corrupt or unreadable; "
        "refusing to restart the run from step 0"
    ) in out
    assert "size is 1000 bytes, the manifest says" in out and "(corrupted)" in out
    assert snapshot(spec.run_dir) == before


@pytest.mark.parametrize("kind", ["torch zip with a payload", "raw pickle"])
def test_a_foreign_file_given_to_evaluate_is_refused_unexecuted(
    copy_run: Callable[[str], RunSpec], tmp_path: Path, kind: str
) -> None:
    spec = copy_run("run")
    marker = tmp_path / "executed"
    evil = tmp_path / "downloaded.pt"
    if kind == "raw pickle":
        evil.write_bytes(pickle.dumps(_Payload(marker)))
        reason = "not a torch zip archive"
    else:
        write_malicious_checkpoint(evil, marker, 400)
        reason = "refused by torch.load(weights_only=True)"
    with pytest.raises(CheckpointError, match=re.escape(f"{evil}: not a dqn-harness")) as info:
        evaluate_run(spec.run_dir, checkpoint=evil)
    assert reason in str(info.value)
    assert not marker.exists()
    assert not (spec.run_dir / "evaluate.csv").exists()


# ------------------------------------------------ how the CLI reports run faults
# Each maker prepares the fault and returns the command line and a directory the
# command must not create (None: it may).
Fault = Callable[[RunSpec, pytest.MonkeyPatch], tuple[list[str], Path | None]]


def _all_corrupt(spec: RunSpec, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path | None]:
    (spec.run_dir / "summary.json").unlink()
    for step in (200, 400):
        _flip_bytes(spec.run_dir / "checkpoints" / checkpoint_name(step))
    return spec.cli_args(), None


def _foreign_for_evaluate(
    spec: RunSpec, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], Path | None]:
    evil = spec.run_dir.parent / "evil.pt"
    evil.write_bytes(pickle.dumps({"not": "a checkpoint"}))
    return ["evaluate", "--run-dir", str(spec.run_dir), "--checkpoint", str(evil)], None


def _garbled_metrics(
    spec: RunSpec, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[str], Path | None]:
    (spec.run_dir / "summary.json").unlink()
    path = spec.run_dir / "metrics.csv"
    lines = path.read_text().splitlines()
    lines[3] = "abc,def"
    path.write_text("\n".join(lines) + "\n")
    return spec.cli_args(), None


def _bad_device(spec: RunSpec, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path | None]:
    new = RunSpec(spec.run_dir.parent / "new-run", steps=200, extra=("train.device=cuda:abc",))
    return new.cli_args(), new.run_dir


def _diverging(spec: RunSpec, monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], Path | None]:
    real_update = Learner.update

    def update(self: Learner, batch: Any) -> Any:
        if self.updates >= 20:  # from the update at step 280 on
            with torch.no_grad():
                next(self.online.parameters()).fill_(math.nan)
        return real_update(self, batch)

    monkeypatch.setattr(Learner, "update", update)
    return RunSpec(spec.run_dir.parent / "new-run", steps=400).cli_args(), None


RUN_FAULTS: dict[str, tuple[Fault, str]] = {
    "all checkpoints corrupt": (
        _all_corrupt,
        "CheckpointError: all 2 checkpoints in {ckpts} are corrupt or unreadable; "
        "refusing to restart the run from step 0",
    ),
    "foreign checkpoint to evaluate": (
        _foreign_for_evaluate,
        "CheckpointError: {evil}: not a dqn-harness checkpoint",
    ),
    "loss became NaN": (
        _diverging,
        "NonFiniteError: learn/loss became nan between steps 250 and 300; stopping",
    ),
    "garbled metrics.csv row": (_garbled_metrics, "{run}/metrics.csv"),
    "invalid device string": (_bad_device, "train.device"),
}
#: A bad device string is a config error (exit status 2); the others are run faults (1).
_EXIT_STATUS = {"invalid device string": 2}


@pytest.mark.parametrize("fault", sorted(RUN_FAULTS))
def test_run_faults_are_reported_in_one_line_without_a_traceback(
    copy_run: Callable[[str], RunSpec], monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    """Faults met while running (not config errors): exit status 1, one message naming the
    exception, the file or field and what happened, and nothing created that should not be."""
    make, fragment = RUN_FAULTS[fault]
    spec = copy_run("run")
    argv, must_not_exist = make(spec, monkeypatch)
    rc, _, err = call_cli(argv)
    assert rc == _EXIT_STATUS.get(fault, 1), (rc, err)
    head = f"dqn {argv[0]}: error: "
    assert err.startswith(head) and err.count(head) == 1 and "Traceback" not in err, err
    expected = fragment.format(
        ckpts=spec.run_dir / "checkpoints", evil=spec.run_dir.parent / "evil.pt", run=spec.run_dir
    )
    assert expected in err, err
    assert must_not_exist is None or not must_not_exist.exists()


@pytest.mark.parametrize("suite", ["", "x" * 501], ids=["empty", "501-characters"])
def test_an_unusable_suite_name_is_refused_up_front(suite: str) -> None:
    rc, out, err = call_cli(
        ["config", "--preset", "nature-dqn", "--set", f"tracking.suite={suite}"]
    )
    assert_clear_error(rc, out, err, "config", "tracking.suite")


def test_a_mistyped_checkpoint_path_is_reported_as_not_found(tmp_path: Path) -> None:
    path = tmp_path / "typo.pt"
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value) and "listed in" not in str(info.value)
