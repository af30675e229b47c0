"""Checkpoints: atomic save, manifest verification, fallback, retention, safety."""

from __future__ import annotations

import errno
import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dqn_core import fileio
from dqn_core.fileio import is_temp_name
from dqn_core.run.checkpoint import (
    MANIFEST_NAME,
    CheckpointError,
    CheckpointManager,
    InvalidStateError,
    checkpoint_name,
    load_checkpoint,
    validate_state,
)

REPO = Path(__file__).resolve().parents[1]


def _state(step: int, n: int = 64) -> dict[str, Any]:
    """A state shaped like the training loop's: nets, optimizer, replay, RNG, counters."""
    g = torch.Generator().manual_seed(step)
    return {
        "format": "test/1",
        "step": step,
        "learner": {
            "online": OrderedDict(w=torch.randn(n, 8, generator=g), b=torch.zeros(8)),
            "optimizer": {
                "state": {0: {"exp_avg": torch.ones(3)}},
                "param_groups": [{"lr": 2.5e-4, "betas": (0.9, 0.999), "params": [0, 1]}],
            },
        },
        "replay": {"obs": torch.arange(n, dtype=torch.uint8), "size": n, "cursor": step % n},
        "seeds": {"torch": {"init": torch.Generator().get_state()}, "bits": "9f" * 16},
        "wall_time": 12.5,
        "note": None,
        "blob": b"\x00\x01",
    }


def _assert_same(a: Any, b: Any) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    else:
        assert a == b and type(a) is type(b)


def _manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST_NAME).read_text())


def _temps(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if is_temp_name(p.name)]


# ----------------------------------------------------------------- round trip
@pytest.mark.parametrize("mmap", [True, False])
def test_save_then_latest_round_trips_the_state(tmp_path: Path, mmap: bool) -> None:
    manager = CheckpointManager(tmp_path / "checkpoints", keep=2, mmap=mmap)
    assert manager.latest() is None and manager.latest_path() is None
    state = _state(1000)
    path = manager.save(state, 1000, extra_meta={"frames": 4000, "config_hash": "abc123"})
    assert path == tmp_path / "checkpoints" / "ckpt-000000001000.pt"
    found = manager.latest()
    assert found is not None
    loaded, loaded_path = found
    assert loaded_path == path
    _assert_same(state, loaded)
    _assert_same(state, manager.load(path))
    _assert_same(state, manager.load(Path(path.name)))  # a bare name inside the directory
    entry = _manifest(path.parent)["checkpoints"][0]
    assert entry["file"] == path.name and entry["step"] == 1000
    assert entry["size"] == path.stat().st_size
    assert entry["sha256"] == fileio.sha256_file(path)
    assert entry["meta"] == {"torch": torch.__version__, "frames": 4000, "config_hash": "abc123"}
    assert _temps(path.parent) == []


def test_the_constructor_touches_nothing_on_disk(tmp_path: Path) -> None:
    CheckpointManager(tmp_path / "checkpoints", keep=1)
    assert not (tmp_path / "checkpoints").exists()


tensors = st.builds(
    lambda xs, dt: torch.tensor(xs, dtype=dt),
    st.lists(st.integers(0, 100), max_size=6),
    st.sampled_from([torch.uint8, torch.int64, torch.float32, torch.float64]),
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.text(max_size=8),
    st.floats(allow_nan=False),
    st.binary(min_size=1, max_size=8),
    tensors,
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers(0, 9)), inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=30, deadline=None)
@given(state=st.dictionaries(st.text(min_size=1, max_size=6), values, max_size=5))
def test_any_allowed_state_round_trips(
    tmp_path_factory: pytest.TempPathFactory, state: dict[str, Any]
) -> None:
    manager = CheckpointManager(tmp_path_factory.mktemp("ck"), keep=1)
    manager.save(state, 7)
    found = manager.latest()
    assert found is not None
    _assert_same(state, found[0])


# ------------------------------------------------------------------ retention
def test_keeps_the_newest_n_and_lists_only_them(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=2)
    for step in (100, 200, 300, 400, 500):
        manager.save(_state(step), step)
    on_disk = sorted(p.name for p in tmp_path.glob("ckpt-*.pt"))
    assert on_disk == [checkpoint_name(400), checkpoint_name(500)]
    assert [e["file"] for e in _manifest(tmp_path)["checkpoints"]] == on_disk
    assert [i.step for i in manager.checkpoints()] == [500, 400]


def test_saving_an_older_step_supersedes_newer_checkpoints(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager = CheckpointManager(tmp_path, keep=3)
    for step in (100, 200, 300):
        manager.save(_state(step), step)
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        manager.save(_state(250), 250)
    assert "ckpt-000000000300.pt" in caplog.text and "newer" in caplog.text
    assert [i.step for i in manager.checkpoints()] == [250, 200, 100]
    found = manager.latest()
    assert found is not None and found[0]["step"] == 250


def test_resaving_the_same_step_replaces_it(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=2)
    manager.save(_state(100), 100)
    manager.save({"step": 100, "other": torch.ones(2)}, 100)
    found = manager.latest()
    assert found is not None and set(found[0]) == {"step", "other"}
    assert len(_manifest(tmp_path)["checkpoints"]) == 1


# --------------------------------------------------------- corruption fallback
def _two(tmp_path: Path) -> tuple[CheckpointManager, Path, Path]:
    manager = CheckpointManager(tmp_path, keep=3)
    old = manager.save(_state(100), 100)
    new = manager.save(_state(200), 200)
    return manager, old, new


def test_corrupted_newest_falls_back_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager, old, new = _two(tmp_path)
    data = bytearray(new.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in a tensor payload
    new.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        found = manager.latest()
    assert found is not None and found[1] == old and found[0]["step"] == 100
    assert new.name in caplog.text and "sha256" in caplog.text
    assert "falling back" in caplog.text


def test_truncated_newest_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager, old, new = _two(tmp_path)
    with open(new, "r+b") as fh:
        fh.truncate(new.stat().st_size // 3)
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        found = manager.latest()
    assert found is not None and found[1] == old
    assert new.name in caplog.text and "truncated" in caplog.text
    with pytest.raises(CheckpointError, match="truncated"):
        manager.load(new)  # an explicit load does not fall back


def test_missing_listed_file_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manager, old, new = _two(tmp_path)
    new.unlink()
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        found = manager.latest()
    assert found is not None and found[1] == old
    assert "missing" in caplog.text and new.name in caplog.text


def test_all_checkpoints_corrupt_raises_instead_of_starting_over(tmp_path: Path) -> None:
    manager, old, new = _two(tmp_path)
    for p in (old, new):
        p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"all 2 checkpoints .* corrupt") as info:
        manager.latest()
    assert old.name in str(info.value) and new.name in str(info.value)


def test_unlisted_complete_file_is_loaded_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash between the rename and the manifest update leaves a complete, unlisted file."""
    manager = CheckpointManager(tmp_path, keep=2)
    manager.save(_state(100), 100)
    real = fileio.atomic_write_json

    def manifest_fails(path: Path, obj: Any, **kw: Any) -> str:
        if Path(path).name == MANIFEST_NAME:
            raise OSError(errno.EIO, "Input/output error")
        return real(path, obj, **kw)

    monkeypatch.setattr("dqn_core.run.checkpoint_files.atomic_write_json", manifest_fails)
    with pytest.raises(CheckpointError, match=r"updating .*manifest\.json failed"):
        manager.save(_state(200), 200)
    monkeypatch.undo()
    assert [e["step"] for e in _manifest(tmp_path)["checkpoints"]] == [100]
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        found = manager.latest()
    assert found is not None and found[0]["step"] == 200
    assert "not listed" in caplog.text
    manager.save(_state(300), 300)  # retention counts it; it is never blessed unverified
    assert [e["step"] for e in _manifest(tmp_path)["checkpoints"]] == [300]
    assert [(i.step, i.listed) for i in manager.checkpoints()] == [(300, True), (200, False)]


def test_a_garbage_manifest_does_not_block_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager, _, new = _two(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        found = manager.latest()
    assert found is not None and found[1] == new
    assert "unreadable" in caplog.text


def test_manifest_entries_cannot_point_outside_the_directory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager, _, _ = _two(tmp_path)
    manifest = _manifest(tmp_path)
    manifest["checkpoints"].append(
        {"file": "../ckpt-000000009999.pt", "step": 9999, "sha256": "0" * 64, "size": 1}
    )
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        assert [i.step for i in manager.checkpoints()] == [200, 100]
    assert "malformed entry" in caplog.text


# -------------------------------------------------------------------- safety
class _Exploit:
    """Unpickling this runs a shell command (the classic pickle attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_a_malicious_pickle_is_refused_without_running_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager, _, new = _two(tmp_path)
    marker = tmp_path / "pwned"
    evil = tmp_path / checkpoint_name(300)
    torch.save({"format": "dqn-harness-checkpoint", "state": _Exploit(marker)}, evil)
    with pytest.raises(CheckpointError, match="unsafe payload") as info:
        manager.load(evil)
    assert "weights_only=True" in str(info.value)
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.checkpoint"):
        found = manager.latest()
    assert found is not None and found[1] == new  # fell back past the planted file
    assert not marker.exists()


def test_a_raw_pickle_is_refused_without_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / checkpoint_name(5)
    evil.write_bytes(pickle.dumps({"state": _Exploit(marker)}))
    with pytest.raises(CheckpointError, match="not a dqn-harness checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()


def test_a_foreign_torch_file_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2)}, foreign)
    with pytest.raises(CheckpointError, match="marker is missing"):
        load_checkpoint(foreign)


@pytest.mark.parametrize(
    ("state", "where", "what"),
    [
        ({"replay": {"obs": np.zeros(3, np.uint8)}}, r"state\['replay'\]\['obs'\]", "numpy"),
        ({"stats": [1, 2, np.float64(3.0)]}, r"state\['stats'\]\[2\]", "numpy"),
        ({"rng": {"gen": np.random.default_rng(0)}}, r"state\['rng'\]\['gen'\]", "numpy"),
        ({"cfg": {"x": object()}}, r"state\['cfg'\]\['x'\]", "builtins.object"),
        ({"s": {1, 2}}, r"state\['s'\]", "set"),
        ({"dd": defaultdict(list)}, r"state\['dd'\]", "defaultdict"),
        ({"d": {(1, 2): 3}}, r"state\['d'\]", "key"),
        ({"raw": [b"ok", b""]}, r"state\['raw'\]\[1\]", "empty bytes"),
    ],
)
def test_disallowed_values_are_rejected_with_their_key_path(
    tmp_path: Path, state: dict[str, Any], where: str, what: str
) -> None:
    manager = CheckpointManager(tmp_path / "c", keep=1)
    with pytest.raises(InvalidStateError, match=where) as info:
        manager.save(state, 1)
    assert what in str(info.value)
    assert isinstance(info.value, TypeError)
    assert not (tmp_path / "c").exists()  # rejected before anything was written


def test_validate_state_accepts_torch_metadata_values() -> None:
    validate_state({"s": torch.Size([2, 3]), "d": torch.float16, "dev": torch.device("cpu")})


@pytest.mark.parametrize("step", [-1, 10**12, True, 1.0])
def test_bad_steps_are_rejected(tmp_path: Path, step: Any) -> None:
    with pytest.raises(ValueError, match="step"):
        CheckpointManager(tmp_path, keep=1).save({}, step)


def test_bad_keep_and_meta_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep"):
        CheckpointManager(tmp_path, keep=0)
    with pytest.raises(ValueError, match="extra_meta"):
        CheckpointManager(tmp_path, keep=1).save({}, 1, extra_meta={"t": torch.ones(1)})


# ---------------------------------------------------------- failures in save
class _FillingFile:
    """A file wrapper that runs out of space after ``limit`` bytes."""

    def __init__(self, fh: Any, limit: int) -> None:
        self._fh, self._left = fh, limit

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        if n > self._left:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= n
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FillingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def test_disk_full_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = CheckpointManager(tmp_path, keep=1)
    prev = manager.save(_state(100), 100)
    manifest_before = (tmp_path / MANIFEST_NAME).read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        fileio.os, "fdopen", lambda fd, mode: _FillingFile(real_fdopen(fd, mode), 2000)
    )
    with pytest.raises(CheckpointError) as info:
        manager.save(_state(200, n=10_000), 200)
    monkeypatch.undo()
    msg = str(info.value)
    assert "ckpt-000000000200.pt failed: No space left on device" in msg
    assert f"previous checkpoint {prev} kept" in msg
    assert _temps(tmp_path) == []
    assert not (tmp_path / checkpoint_name(200)).exists()
    assert (tmp_path / MANIFEST_NAME).read_bytes() == manifest_before
    found = manager.latest()
    assert found is not None and found[1] == prev


def test_failed_rename_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager = CheckpointManager(tmp_path, keep=1)
    prev = manager.save(_state(100), 100)

    def broken(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fileio.os, "replace", broken)
    with pytest.raises(CheckpointError, match="Input/output error; previous checkpoint"):
        manager.save(_state(200), 200)
    monkeypatch.undo()
    assert _temps(tmp_path) == []
    found = manager.latest()
    assert found is not None and found[1] == prev


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import torch
    from dqn_core import fileio
    from dqn_core.run.checkpoint import CheckpointManager

    real_write = fileio.HashingWriter.write

    def slow_write(self, data):
        n = real_write(self, data)
        time.sleep(0.05)  # make the write long enough to be killed in the middle
        return n

    fileio.HashingWriter.write = slow_write
    state = {f"t{i}": torch.full((1000,), i, dtype=torch.float32) for i in range(400)}
    CheckpointManager(sys.argv[1], keep=2).save(state, 200)
    """
)


def test_sigkill_mid_write_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    manager = CheckpointManager(tmp_path, keep=2)
    prev = manager.save(_state(100), 100)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not [p for p in tmp_path.iterdir() if is_temp_name(p.name) and p.stat().st_size]:
            assert child.poll() is None, "the writer finished before it could be killed"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert len(_temps(tmp_path)) == 1  # the interrupted write's leftover
    assert [i.step for i in manager.checkpoints()] == [100]  # readers ignore it
    found = manager.latest()
    assert found is not None and found[1] == prev
    manager.save(_state(300), 300)  # the next save removes the leftover
    assert _temps(tmp_path) == []
    assert [i.step for i in manager.checkpoints()] == [300, 100]
