"""Atomic, checksummed, verified checkpoints with keep-last-N retention.

Layout of a checkpoint directory (``<run-dir>/checkpoints/``)::

    ckpt-000000250000.pt   one file per checkpoint, named by agent step
    ckpt-000000500000.pt
    manifest.json          sha256, size, step, time and metadata of each file

Guarantees:

* **Atomic and durable.** A checkpoint is written to a temporary file in the
  same directory, fsynced, renamed onto its final name and the directory is
  fsynced (:mod:`dqn_core.fileio`). A crash at any point leaves either the
  previous set of checkpoints or the new one, never a half-written file under
  a checkpoint name. The manifest is replaced the same way, after the
  checkpoint it describes is durable, and older checkpoints are deleted only
  after that.
* **Verified before use.** :meth:`CheckpointManager.latest` checks each file's
  size and sha256 against the manifest, newest first, and loads the first good
  one with ``torch.load(weights_only=True)``. A truncated, corrupted, missing or
  unreadable file gets a warning naming the file and the reason, and the
  previous checkpoint is tried. If checkpoints exist but none loads,
  :class:`CheckpointError` is raised: a run never silently restarts from step 0.
  ``None`` means there is no checkpoint at all (a fresh run).
* **No code execution from files.** Loads use ``weights_only=True``: a file
  with a pickled object (e.g. an ``os.system`` reduce) is refused without being
  unpickled. Every checkpoint carries a format marker, so a foreign torch file
  is refused too. States may hold only tensors, Python scalars, strings,
  bytes, lists, tuples and dicts; anything else (numpy arrays included) is
  rejected at save time with the key path, so the mistake shows up in the run
  that makes it, not in the resume that needs it.
* **No needless copies.** ``torch.save`` streams tensor storages straight into
  the file (hashed on the way, so the sha256 costs no second read), and loads
  memory-map the file (``mmap=True``), so a multi-GB replay memory is not held
  twice in RAM on resume.

A file that is on disk but missing from the manifest (a crash between the
rename and the manifest update, or a lost manifest) is still usable: the
rename guarantees it is complete, so it is loaded with a warning that it could
not be checksummed. Temporary files left by a killed writer are ignored by
readers and removed by the next :meth:`CheckpointManager.save`.

One directory has one writer (the training process); readers such as
``dqn evaluate`` may run at the same time.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import torch

from dqn_core.fileio import atomic_open, fsync_dir, remove_stale_temps
from dqn_core.run.checkpoint_files import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MAX_STEP,
    CheckpointError,
    CheckpointInfo,
    InvalidStateError,
    checkpoint_name,
    list_checkpoints,
    load_checkpoint,
    read_manifest,
    scan,
    step_of,
    torch_load,
    validate_state,
    verify,
    write_manifest,
)

# The checkpoint API in one place: the manager here, the file-level parts re-exported.
__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MAX_STEP",
    "CheckpointError",
    "CheckpointInfo",
    "CheckpointManager",
    "InvalidStateError",
    "checkpoint_name",
    "list_checkpoints",
    "load_checkpoint",
    "validate_state",
]

log = logging.getLogger(__name__)


class CheckpointManager:
    """Saves, verifies, loads and prunes the checkpoints of one run.

    Args:
        directory: where checkpoints live (created on the first save).
        keep: how many of the newest checkpoints to keep (>= 1).
        mmap: memory-map tensor storages on load (see the module docstring).
    """

    def __init__(self, directory: Path, keep: int, *, mmap: bool = True) -> None:
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep: expected an integer >= 1, got {keep!r}")
        self.directory = Path(directory)
        self.keep = keep
        self.mmap = mmap

    # ---------------------------------------------------------------- queries
    def checkpoints(self) -> list[CheckpointInfo]:
        """Every checkpoint (manifest entries and files on disk), newest first."""
        return list_checkpoints(self.directory)

    def latest_path(self) -> Path | None:
        """The newest checkpoint file that exists, without verifying it (cheap)."""
        for info in self.checkpoints():
            if info.path.exists():
                return info.path
        return None

    # ---------------------------------------------------------------- loading
    def load(self, path: Path) -> dict[str, Any]:
        """Load one checkpoint (verified when the manifest lists it); no fallback.

        ``path`` may also be a bare file name inside this manager's directory.
        """
        path = Path(path)
        if not path.exists() and not path.is_absolute() and (self.directory / path).exists():
            path = self.directory / path
        return load_checkpoint(path, mmap=self.mmap)

    def latest(self) -> tuple[dict[str, Any], Path] | None:
        """The newest checkpoint that passes verification, with its path.

        Returns:
            ``(state, path)``, or ``None`` when the directory holds no checkpoint.

        Raises:
            CheckpointError: checkpoints exist but none is usable (each reason listed).
        """
        infos = self.checkpoints()
        if not infos:
            return None
        failures: list[str] = []
        for info in infos:
            try:
                verify(info)
                state = torch_load(info.path, mmap=self.mmap)
            except CheckpointError as exc:
                log.warning("skipping checkpoint %s", exc)
                failures.append(str(exc))
                continue
            if failures:
                log.warning(
                    "falling back to %s (step %d): %d newer checkpoint(s) were unusable",
                    info.path,
                    info.step,
                    len(failures),
                )
            return state, info.path
        raise CheckpointError(
            f"all {len(infos)} checkpoints in {self.directory} are corrupt or unreadable; "
            "refusing to restart the run from step 0:\n  " + "\n  ".join(failures)
        )

    # ----------------------------------------------------------------- saving
    def save(
        self, state: Mapping[str, Any], step: int, *, extra_meta: Mapping[str, Any] | None = None
    ) -> Path:
        """Write ``state`` as the checkpoint of agent step ``step``; prune old ones.

        Checkpoints newer than ``step`` (left by a run that resumed from an older
        checkpoint) are superseded and deleted, so :meth:`latest` always returns
        the continuation being trained.

        Args:
            state: tensors / Python scalars / strings / lists / dicts only.
            step: agent step of the checkpoint, 0 <= step < 10**12.
            extra_meta: JSON-serialisable metadata stored in the manifest entry
                (e.g. frames, config hash); the torch version is added.

        Returns:
            The path of the new checkpoint file.

        Raises:
            InvalidStateError: ``state`` holds a disallowed value (before any write).
            CheckpointError: the write failed; earlier checkpoints are untouched.
        """
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            raise ValueError(f"step: expected an integer in [0, {MAX_STEP}], got {step!r}")
        validate_state(state)
        meta: dict[str, Any] = {"torch": torch.__version__, **dict(extra_meta or {})}
        try:
            json.dumps(meta, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra_meta: must be JSON-serialisable: {exc}") from None

        directory = self.directory
        directory.mkdir(parents=True, exist_ok=True)
        for stale in remove_stale_temps(directory):  # checkpoints' and the manifest's
            log.info("removed %s, left by an interrupted checkpoint write", stale)
        entries, problem = read_manifest(directory)
        if problem is not None:
            log.warning("%s; it will be rewritten", problem)
        on_disk = scan(directory)
        previous = max(on_disk, key=on_disk.__getitem__) if on_disk else None
        kept = (
            f"previous checkpoint {directory / previous} kept"
            if previous
            else "no earlier checkpoint"
        )
        path = directory / checkpoint_name(step)
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "step": step, "state": state}

        t0 = time.perf_counter()
        writer = None
        try:
            with atomic_open(path) as writer:
                # torch.save only calls write() and flush(): the hashing writer is
                # file-like enough, and tensor storages reach it as memoryviews (no copy).
                torch.save(payload, cast("IO[bytes]", writer))
        except Exception as exc:
            cause: BaseException = exc
            if writer is not None and writer.error is not None:
                cause = writer.error  # torch.save re-raises I/O errors as RuntimeError
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else cause
            raise CheckpointError(f"writing {path} failed: {reason}; {kept}") from exc
        assert writer is not None
        log.debug("wrote %s (%d bytes) in %.2f s", path, writer.size, time.perf_counter() - t0)

        entries[path.name] = {
            "file": path.name,
            "step": step,
            "sha256": writer.sha256,
            "size": writer.size,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "unix_time": math.floor(time.time()),
            "meta": meta,
        }
        victims = self._victims(step, set(entries) | set(on_disk) | {path.name})
        new_entries = {k: v for k, v in entries.items() if k not in victims}
        try:
            write_manifest(directory, new_entries)
        except OSError as exc:
            raise CheckpointError(
                f"{path} was written, but updating {directory / MANIFEST_NAME} failed: "
                f"{exc.strerror or exc}; the previous manifest is kept (the new file will be "
                "loaded without checksum verification) and no checkpoint was deleted"
            ) from exc
        self._delete(victims, step)
        return path

    def _victims(self, step: int, names: set[str]) -> set[str]:
        """Names to delete after saving ``step``: newer ones, and beyond ``keep``."""
        newer = {n for n in names if step_of(n) > step}
        rest = sorted((n for n in names if n not in newer), key=step_of, reverse=True)
        return newer | set(rest[self.keep :])

    def _delete(self, victims: set[str], step: int) -> None:
        if not victims:
            return
        for name in sorted(victims):
            if step_of(name) > step:
                log.warning(
                    "deleting %s: it is newer than the checkpoint just saved (step %d), "
                    "left by a run that resumed from an older checkpoint",
                    name,
                    step,
                )
            try:
                (self.directory / name).unlink(missing_ok=True)
            except OSError as exc:
                log.warning("could not delete old checkpoint %s: %s", name, exc.strerror or exc)
        try:
            fsync_dir(self.directory)
        except OSError as exc:  # the deletes are not needed for correctness
            log.warning("could not fsync %s: %s", self.directory, exc.strerror or exc)
