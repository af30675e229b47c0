"""A disk that fills up under a running `dqn train`: the checkpoint write fails with
ENOSPC, the previous checkpoint stays loadable, and the error says what happened.

The real version runs ``dqn train`` on a 160 MiB tmpfs mounted in a private
mount namespace (``unshare --mount``, or ``--map-root-user`` without root), so
nothing is mounted for anyone else and the mount disappears with the process.
Once the first checkpoint is on disk the test fills the filesystem through
``/proc/<pid>/root`` (another job filling a shared disk), leaving 1 MiB: the
next 40 MB checkpoint cannot fit. Where namespaces are not allowed it is
skipped; the in-process version (a file object whose writes fail with ENOSPC
below the checkpoint writer) runs everywhere.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dqn_core import fileio
from dqn_core.run import Trainer
from dqn_core.run.checkpoint import MANIFEST_NAME, CheckpointError

from . import (
    RunSpec,
    audit_checkpoints,
    check_finished_run,
    check_metrics_continuous,
    launch,
    read_csv,
    wait_until,
)

pytestmark = pytest.mark.integration

TMPFS_SIZE = "160m"
MARGIN_BYTES = 1 << 20
#: Runs the command (after the mount point and a copy destination) on a fresh
#: tmpfs, then copies the run directory out before the namespace (and the tmpfs)
#: goes away, and exits with the command's status.
_IN_TMPFS = (
    'mount -t tmpfs -o size={size} tmpfs "$1" || exit 97; '
    'mnt="$1"; out="$2"; shift 2; "$@"; rc=$?; cp -a "$mnt/run" "$out/run"; exit $rc'
)


@pytest.fixture(scope="module")
def namespace_prefix(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``unshare`` arguments that give a child a private mount namespace it may mount in."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    prefix = ["unshare", "--mount"]
    if os.geteuid() != 0:
        prefix = ["unshare", "--map-root-user", "--mount"]
    probe = tmp_path_factory.mktemp("mount-probe")
    res = subprocess.run(
        [*prefix, "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {probe}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs in a private namespace here: {res.stderr.strip()}")
    return prefix


def _fill(directory: Path, leave: int) -> int:
    """Write a ballast file in ``directory`` until only ``leave`` bytes are free."""
    st = os.statvfs(directory)
    size = st.f_bavail * st.f_frsize - leave
    chunk = bytes(1 << 20)
    with (directory / "ballast").open("wb") as fh:
        left = size
        while left > 0:
            left -= fh.write(chunk[: min(left, len(chunk))])
        fh.flush()
        os.fsync(fh.fileno())
    return size


def test_disk_full_during_a_checkpoint_on_a_real_small_filesystem(
    tmp_path: Path, namespace_prefix: list[str]
) -> None:
    mnt, out = tmp_path / "mnt", tmp_path / "out"
    mnt.mkdir()
    out.mkdir()
    spec = RunSpec(mnt / "run", steps=600)
    wrapper = [*namespace_prefix, "sh", "-c", _IN_TMPFS.format(size=TMPFS_SIZE), "sh"]
    child = launch(spec.cli_args(), tmp_path / "full.log", prefix=[*wrapper, str(mnt), str(out)])
    # The child's view of the mount point: its tmpfs, seen through its mount namespace.
    view = Path(f"/proc/{child.pid}/root") / mnt.relative_to("/")
    wait_until(
        lambda: (view / "run" / "policy" / "latest.pt").exists(),
        300,
        "the first checkpoint (and the policy file written after it)",
        child,
    )
    first = audit_checkpoints(view / "run" / "checkpoints")
    assert first.steps == (200,), first
    _fill(view, MARGIN_BYTES)
    rc = child.wait(300)
    text = child.output()
    assert rc == 1 and "Traceback" not in text, text[-4000:]
    ckpts = mnt / "run" / "checkpoints"
    # One message naming the file, the cause and what was kept.
    assert (
        f"dqn train: error: CheckpointError: writing {ckpts}/ckpt-000000000400.pt failed: No space left on device; "
        f"previous checkpoint {ckpts}/ckpt-000000000200.pt kept"
    ) in text, text[-4000:]

    saved = out / "run"
    audit = audit_checkpoints(saved / "checkpoints")
    assert audit.steps == (200,) and audit.unlisted == () and audit.temps == (), audit
    rows = read_csv(saved / "metrics.csv")
    assert [int(r["step"]) for r in rows] == list(range(50, 401, 50))
    # Space is back (the directory was moved to a disk with room): the run resumes
    # from the kept checkpoint and finishes with continuous files.
    resumed = RunSpec(saved, steps=spec.steps)
    again = launch(resumed.cli_args(), tmp_path / "resume.log")
    assert again.wait(300) == 0, again.output()[-4000:]
    assert "resuming from ckpt-000000000200.pt at step 200" in again.output()
    check_finished_run(saved, spec.steps)


class _FullDisk:
    """A binary file whose writes fail with ENOSPC while ``full()`` is true."""

    def __init__(self, fh: Any, full: Callable[[], bool]) -> None:
        self._fh = fh
        self._full = full

    def write(self, data: Any) -> int:
        if self._full():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return int(self._fh.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def test_disk_full_during_a_checkpoint_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Everywhere (no mount needed): the OS refuses checkpoint bytes from step 300 on."""
    spec = RunSpec(tmp_path / "run", steps=600)
    trainer = Trainer(spec.config(), spec.run_dir, quiet=True)
    real_fdopen = os.fdopen
    monkeypatch.setattr(
        fileio.os,
        "fdopen",
        lambda fd, mode="r", *a, **k: _FullDisk(
            real_fdopen(fd, mode, *a, **k), lambda: trainer.step >= 300
        ),
    )
    ckpts = spec.run_dir / "checkpoints"
    manifest: list[bytes] = []
    real_save = trainer.checkpoints.save

    def save(*args: Any, **kwargs: Any) -> Path:
        manifest[:] = [(ckpts / MANIFEST_NAME).read_bytes()] if ckpts.exists() else []
        return real_save(*args, **kwargs)

    monkeypatch.setattr(trainer.checkpoints, "save", save)
    with pytest.raises(CheckpointError) as info:
        trainer.run()
    monkeypatch.undo()
    assert str(info.value) == (
        f"writing {ckpts}/ckpt-000000000400.pt failed: No space left on device; "
        f"previous checkpoint {ckpts}/ckpt-000000000200.pt kept"
    )
    assert (ckpts / MANIFEST_NAME).read_bytes() == manifest[0]  # untouched by the failed save
    audit = audit_checkpoints(ckpts)
    assert audit.steps == (200,) and audit.temps == (), audit
    rows = read_csv(spec.run_dir / "metrics.csv")
    check_metrics_continuous(rows, 400)
    assert not (spec.run_dir / "summary.json").exists()
    again = Trainer(spec.config(), spec.run_dir, quiet=True)
    again._resume()
    assert again.step == 200
