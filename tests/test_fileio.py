"""Durable writes: temp + fsync + rename, failure cleanup, stale temps, hashing."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dqn_core import fileio
from dqn_core.fileio import (
    HashingWriter,
    atomic_open,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    is_temp_name,
    remove_stale_temps,
    sha256_file,
    temp_path_for,
)


def _temps(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if is_temp_name(p.name)]


def test_atomic_write_text_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "summary.txt"
    digest = atomic_write_text(target, "first\n")
    assert target.read_text() == "first\n"
    assert digest == hashlib.sha256(b"first\n").hexdigest()
    atomic_write_text(target, "second\n")
    assert target.read_text() == "second\n"
    assert _temps(tmp_path) == []


def test_atomic_write_uses_the_umask_not_private_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644


def test_exception_inside_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "config.yaml"
    target.write_text("old")
    with pytest.raises(KeyError), atomic_open(target) as fh:
        fh.write(b"half of the new content")
        raise KeyError("serialiser failed")
    assert target.read_text() == "old"
    assert _temps(tmp_path) == []


def test_failed_rename_keeps_the_old_file_and_removes_the_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "manifest.json"
    target.write_text("{}")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(fileio.os, "replace", broken_replace)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write_json(target, {"a": 1})
    assert target.read_text() == "{}"
    assert _temps(tmp_path) == []


def test_fsync_failure_is_reported_and_cleaned_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", no_space)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_text(tmp_path / "x.txt", "data")
    assert not (tmp_path / "x.txt").exists()
    assert _temps(tmp_path) == []


def test_directories_that_cannot_be_synced_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = os.fsync

    def no_dir_sync(fd: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", no_dir_sync)
    atomic_write_text(tmp_path / "x.txt", "data")
    assert (tmp_path / "x.txt").read_text() == "data"


def test_atomic_write_json_refuses_nan_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"summary\.json.*JSON"):
        atomic_write_json(tmp_path / "summary.json", {"mean": float("nan")})
    assert not (tmp_path / "summary.json").exists()
    atomic_write_json(tmp_path / "ok.json", {"mean": 1.5, "n": [1, 2]})
    assert json.loads((tmp_path / "ok.json").read_text()) == {"mean": 1.5, "n": [1, 2]}


def test_hashing_writer_hashes_what_it_writes(tmp_path: Path) -> None:
    chunks = [b"abc", bytearray(b"defg"), memoryview(b"0123456789")[2:7]]
    with atomic_open(tmp_path / "blob") as fh:
        for c in chunks:
            fh.write(c)
    expected = b"abcdefg23456"
    assert (tmp_path / "blob").read_bytes() == expected
    assert fh.size == len(expected)
    assert fh.sha256 == hashlib.sha256(expected).hexdigest() == sha256_file(tmp_path / "blob")


def test_hashing_writer_remembers_the_first_os_error() -> None:
    class Full:
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    writer = HashingWriter(Full())
    with pytest.raises(OSError):
        writer.write(b"x")
    assert writer.error is not None and writer.error.errno == errno.ENOSPC
    assert writer.size == 0


@settings(max_examples=25, deadline=None)
@given(data=st.binary(max_size=5000), chunk=st.integers(min_value=1, max_value=64))
def test_sha256_file_matches_hashlib_for_any_content_and_chunking(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, chunk: int
) -> None:
    path = tmp_path_factory.mktemp("h") / "data.bin"
    digest = atomic_write_bytes(path, data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk_bytes=chunk) == digest


def test_temp_names_are_recognised_and_unique(tmp_path: Path) -> None:
    a, b = temp_path_for(tmp_path / "ckpt-000000000001.pt"), temp_path_for(tmp_path / "x")
    assert a.parent == tmp_path and a != temp_path_for(tmp_path / "ckpt-000000000001.pt")
    assert is_temp_name(a.name) and is_temp_name(b.name)
    assert not is_temp_name("ckpt-000000000001.pt")
    assert not is_temp_name(".hidden.tmp-notapid-00000000")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_remove_stale_temps_spares_live_writers_and_other_files(tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = tmp_path / f".ckpt-000000000005.pt.tmp-{_dead_pid()}-0a1b2c3d"
        mine = tmp_path / f".ckpt-000000000006.pt.tmp-{os.getpid()}-0a1b2c3d"
        busy = tmp_path / f".ckpt-000000000007.pt.tmp-{live.pid}-0a1b2c3d"
        other = tmp_path / f".manifest.json.tmp-{_dead_pid()}-0a1b2c3d"
        keep = tmp_path / "ckpt-000000000004.pt"
        for p in (dead, mine, busy, other, keep):
            p.write_bytes(b"partial")
        removed = remove_stale_temps(tmp_path, final_prefix="ckpt-")
        assert sorted(removed) == sorted([dead, mine])
        assert busy.exists() and other.exists() and keep.exists()
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temps(tmp_path / "missing") == []
