"""Checkpoint files: their format, what a state may hold, the manifest, listing and verified loading.

See :mod:`dqn_core.run.checkpoint` for the guarantees; :class:`CheckpointManager`
there is the only writer.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dqn_core.fileio import (
    atomic_write_json,
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
def read_manifest(directory: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
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


def write_manifest(directory: Path, entries: Mapping[str, dict[str, Any]]) -> None:
    ordered = sorted(entries.values(), key=lambda e: step_of(e["file"]))
    atomic_write_json(
        directory / MANIFEST_NAME,
        {"format": MANIFEST_FORMAT, "version": FORMAT_VERSION, "checkpoints": ordered},
    )


def step_of(name: str) -> int:
    m = _NAME_RE.match(name)
    if m is None:  # pragma: no cover - callers filter names first
        raise ValueError(f"{name!r} is not a checkpoint file name")
    return int(m.group(1))


def scan(directory: Path) -> dict[str, int]:
    """Checkpoint files present in ``directory``: name -> step."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    return {n: step_of(n) for n in names if _NAME_RE.match(n)}


def list_checkpoints(directory: Path) -> list[CheckpointInfo]:
    """Every checkpoint in ``directory`` (listed in the manifest or on disk), newest first.

    Entries listed in the manifest whose file is gone are included (loading them
    fails with "missing"), so that a deleted file is reported, not skipped.
    """
    directory = Path(directory)
    entries, problem = read_manifest(directory)
    on_disk = scan(directory)
    if problem is not None and on_disk:
        log.warning("%s; checkpoints will be loaded without checksum verification", problem)
    infos = []
    for name in set(entries) | set(on_disk):
        e = entries.get(name)
        infos.append(
            CheckpointInfo(
                path=directory / name,
                step=step_of(name),
                listed=e is not None,
                sha256=e["sha256"] if e else None,
                size=e["size"] if e else None,
                time=e.get("time") if e else None,
                meta=dict(e.get("meta") or {}) if e else {},
            )
        )
    return sorted(infos, key=lambda i: i.step, reverse=True)


# ------------------------------------------------------------------- loading
def torch_load(path: Path, *, mmap: bool) -> dict[str, Any]:
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


def verify(info: CheckpointInfo) -> None:
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
    entries, problem = read_manifest(path.parent)
    if problem is not None:
        log.warning("%s; loading %s without checksum verification", problem, path.name)
    e = entries.get(path.name)
    info = CheckpointInfo(
        path=path,
        step=step_of(path.name) if _NAME_RE.match(path.name) else -1,
        listed=e is not None,
        sha256=e["sha256"] if e else None,
        size=e["size"] if e else None,
    )
    verify(info)
    return torch_load(path, mmap=mmap)


# ------------------------------------------------------------------- manager
