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
import os
import pickle
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, cast

import torch

from dqn_core.fileio import (
    atomic_open,
    atomic_write_json,
    fsync_dir,
    remove_stale_temps,
    sha256_file,
)

log = logging.getLogger(__name__)

#: Marker stored in every checkpoint file (the payload wraps the caller's state).
FORMAT = "dqn-harness-checkpoint"
#: Version of the file payload and of the manifest layout.
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "dqn-harness-checkpoint-manifest"
#: Steps are written with 12 digits so that names sort by step.
MAX_STEP = 10**12 - 1
_NAME_RE = re.compile(r"^ckpt-(\d{12})\.pt$")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's (default) zip container


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written or loaded; the message says which and why."""


class InvalidStateError(CheckpointError, TypeError):
    """A state to save holds a value that a ``weights_only`` load could not read."""


def checkpoint_name(step: int) -> str:
    """``ckpt-<step:012d>.pt``, the file name of the checkpoint at agent step ``step``."""
    return f"ckpt-{step:012d}.pt"


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint as the manifest and the directory describe it."""

    path: Path
    step: int
    #: Whether the manifest lists it (only listed files can be checksummed).
    listed: bool
    sha256: str | None = None
    size: int | None = None
    time: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------ state checking
# Scalars are matched by exact type: subclasses (numpy.float64 is a float, an IntEnum
# is an int) pickle as their own class, which weights_only loads refuse.
_SCALARS = frozenset({str, bytes, bytearray, int, float, complex, bool, type(None)})
_PLAIN = frozenset({str, int, float, bool, type(None)})  # fast path for long lists
_TORCH_LEAVES = (torch.Tensor, torch.Size, torch.dtype, torch.device)
_KEY_TYPES = _PLAIN
# state_dict() returns OrderedDicts; other dict subclasses (defaultdict, ...) pickle
# their class and are refused on load.
_DICTS = (dict, OrderedDict)


def _key_path(parts: list[Any]) -> str:
    return "state" + "".join(f"[{p!r}]" for p in parts)


def validate_state(state: Mapping[str, Any]) -> None:
    """Check that ``state`` holds only what ``torch.load(weights_only=True)`` reads back.

    Allowed: tensors (``torch.Size``, dtypes, devices), ``str``, non-empty
    ``bytes``, ``bytearray``, ``int``, ``float``, ``complex``, ``bool``, ``None``,
    and ``dict`` / ``list`` / ``tuple`` of those (dict keys: str, int, float,
    bool or None).

    Raises:
        InvalidStateError: naming the key path of the first offending value.
    """
    if type(state) not in _DICTS:
        raise InvalidStateError(f"state: expected a dict, got {type(state).__name__}")
    stack: list[tuple[Any, list[Any]]] = [(state, [])]
    while stack:
        value, parts = stack.pop()
        if isinstance(value, _TORCH_LEAVES):
            continue
        if type(value) in _SCALARS:
            if type(value) is bytes and not value:
                # Pickle protocol 2 writes b"" as a call to bytes(), which weights_only
                # loads refuse; non-empty bytes are written as data and load fine.
                raise InvalidStateError(
                    f"{_key_path(parts)}: empty bytes cannot be loaded back with "
                    "weights_only=True; store None or an empty tensor instead"
                )
            continue
        if type(value) in _DICTS:
            for k, v in value.items():
                if type(k) not in _KEY_TYPES:
                    raise InvalidStateError(
                        f"{_key_path(parts)}: key {k!r} of type {type(k).__name__} is not "
                        "allowed (keys must be str, int, float, bool or None)"
                    )
                stack.append((v, [*parts, k]))
            continue
        if type(value) in (list, tuple):
            if not all(type(v) in _PLAIN for v in value):
                stack.extend((v, [*parts, i]) for i, v in enumerate(value))
            continue
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        if type(value).__module__.split(".")[0] == "numpy":
            hint = (
                "numpy values are not allowed in a checkpoint (weights_only loads refuse "
                "them); convert arrays with torch.from_numpy(...) and scalars with .item()"
            )
        else:
            hint = (
                "only tensors, Python scalars, strings, bytes, lists, tuples and dicts "
                "are allowed in a checkpoint"
            )
        raise InvalidStateError(f"{_key_path(parts)}: {kind} is not allowed: {hint}")


# ------------------------------------------------------------------ manifest
def _read_manifest(directory: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Entries by file name, and a problem description when the manifest is unusable."""
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}, None
    except (OSError, ValueError) as exc:
        return {}, f"{path} is unreadable ({exc})"
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        return {}, f"{path} is not a dqn-harness checkpoint manifest"
    entries: dict[str, dict[str, Any]] = {}
    for entry in data.get("checkpoints", []):
        # A name outside the pattern (e.g. "../x") is never followed: the manifest
        # must not be able to point a load at an arbitrary file.
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("file"), str)
            and _NAME_RE.match(entry["file"]) is not None
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int)
        )
        if not ok:
            log.warning("%s: ignoring a malformed entry %r", path, entry)
            continue
        entries[entry["file"]] = entry
    return entries, None


def _write_manifest(directory: Path, entries: Mapping[str, dict[str, Any]]) -> None:
    ordered = sorted(entries.values(), key=lambda e: _step_of(e["file"]))
    atomic_write_json(
        directory / MANIFEST_NAME,
        {"format": MANIFEST_FORMAT, "version": FORMAT_VERSION, "checkpoints": ordered},
    )


def _step_of(name: str) -> int:
    m = _NAME_RE.match(name)
    if m is None:  # pragma: no cover - callers filter names first
        raise ValueError(f"{name!r} is not a checkpoint file name")
    return int(m.group(1))


def _scan(directory: Path) -> dict[str, int]:
    """Checkpoint files present in ``directory``: name -> step."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {n: _step_of(n) for n in names if _NAME_RE.match(n)}


def list_checkpoints(directory: Path) -> list[CheckpointInfo]:
    """Every checkpoint in ``directory`` (listed in the manifest or on disk), newest first.

    Entries listed in the manifest whose file is gone are included (loading them
    fails with "missing"), so that a deleted file is reported, not skipped.
    """
    directory = Path(directory)
    entries, problem = _read_manifest(directory)
    on_disk = _scan(directory)
    if problem is not None and on_disk:
        log.warning("%s; checkpoints will be loaded without checksum verification", problem)
    infos = []
    for name in set(entries) | set(on_disk):
        e = entries.get(name)
        infos.append(
            CheckpointInfo(
                path=directory / name,
                step=_step_of(name),
                listed=e is not None,
                sha256=e["sha256"] if e else None,
                size=e["size"] if e else None,
                time=e.get("time") if e else None,
                meta=dict(e.get("meta") or {}) if e else {},
            )
        )
    return sorted(infos, key=lambda i: i.step, reverse=True)


# ------------------------------------------------------------------- loading
def _torch_load(path: Path, *, mmap: bool) -> dict[str, Any]:
    """Load and unwrap one checkpoint file; every failure is a CheckpointError."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if magic != _ZIP_MAGIC:
        raise CheckpointError(
            f"{path}: not a dqn-harness checkpoint (not a torch zip archive: a raw pickle or "
            "another format); refused without unpickling it"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        detail = next(
            (ln.strip() for ln in str(exc).splitlines() if "Unsupported" in ln),
            "it holds objects other than tensors and plain data",
        )
        raise CheckpointError(
            f"{path}: not a dqn-harness checkpoint or an unsafe payload: refused by "
            f"torch.load(weights_only=True) ({detail}); nothing in it was executed"
        ) from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(
            f"{path}: unreadable ({type(exc).__name__}: {first}), truncated or corrupted"
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a dqn-harness checkpoint (the {FORMAT!r} marker is missing)"
        )
    version = obj.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version!r} is not supported "
            f"(this dqn-harness reads version {FORMAT_VERSION})"
        )
    state = obj.get("state")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the checkpoint holds no state dict")
    return state


def _verify(info: CheckpointInfo) -> None:
    """Size and sha256 against the manifest; raises CheckpointError with the reason."""
    path = info.path
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        where = f" (listed in {MANIFEST_NAME})" if info.listed else ""
        raise CheckpointError(f"{path}: no such checkpoint file{where}") from None
    if not info.listed:
        log.warning(
            "%s is not listed in %s (interrupted save or lost manifest); "
            "loading it without checksum verification",
            path,
            MANIFEST_NAME,
        )
        return
    if size != info.size:
        raise CheckpointError(
            f"{path}: size is {size} bytes, the manifest says {info.size} (truncated or "
            "overwritten)"
        )
    digest = sha256_file(path)
    if digest != info.sha256:
        raise CheckpointError(
            f"{path}: sha256 {digest[:12]}... does not match the manifest's "
            f"{str(info.sha256)[:12]}... (corrupted)"
        )


def load_checkpoint(path: Path, *, mmap: bool = True) -> dict[str, Any]:
    """Load one checkpoint file, verified against the manifest next to it.

    Args:
        path: a ``ckpt-*.pt`` file.
        mmap: memory-map tensor storages instead of reading them into memory.

    Returns:
        The state dict that was passed to :meth:`CheckpointManager.save`.

    Raises:
        CheckpointError: missing, truncated, corrupted, foreign or unsafe file.
    """
    path = Path(path)
    entries, problem = _read_manifest(path.parent)
    if problem is not None:
        log.warning("%s; loading %s without checksum verification", problem, path.name)
    e = entries.get(path.name)
    info = CheckpointInfo(
        path=path,
        step=_step_of(path.name) if _NAME_RE.match(path.name) else -1,
        listed=e is not None,
        sha256=e["sha256"] if e else None,
        size=e["size"] if e else None,
    )
    _verify(info)
    return _torch_load(path, mmap=mmap)


# ------------------------------------------------------------------- manager
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
                _verify(info)
                state = _torch_load(info.path, mmap=self.mmap)
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
        entries, problem = _read_manifest(directory)
        if problem is not None:
            log.warning("%s; it will be rewritten", problem)
        on_disk = _scan(directory)
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
            _write_manifest(directory, new_entries)
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
        newer = {n for n in names if _step_of(n) > step}
        rest = sorted((n for n in names if n not in newer), key=_step_of, reverse=True)
        return newer | set(rest[self.keep :])

    def _delete(self, victims: set[str], step: int) -> None:
        if not victims:
            return
        for name in sorted(victims):
            if _step_of(name) > step:
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
