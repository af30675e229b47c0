"""Durable file writes: temp file, fsync, rename, directory fsync; file hashes.

A crash (SIGKILL, power loss, a full disk) in the middle of a write must never
leave a half-written file under the final name, and a reader must never see
one. Every writer here follows the same recipe:

1. write to a temporary file in the *same* directory (a rename is only atomic
   within one filesystem), named ``.<name>.tmp-<pid>-<random>`` so that
   leftovers are recognisable and never collide between processes;
2. flush and ``fsync`` the file, so its bytes are on disk before its name is;
3. ``os.replace`` it onto the final name (atomic on POSIX: readers see the old
   file or the new one, nothing in between);
4. ``fsync`` the directory, so the rename itself survives a power loss.

On any error the temporary file is removed and the error propagates; the
previous file under the final name is untouched.

:class:`HashingWriter` hashes bytes as they are written, so a large file (a
checkpoint holding a replay memory of several GB) gets its sha256 without a
second read pass and without an extra copy of the data in memory.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Marker in the names of temporary files (``.<final name>.tmp-<pid>-<hex>``).
TEMP_MARKER = ".tmp-"
_TEMP_RE = re.compile(r"^\.(?P<final>.+)\.tmp-(?P<pid>\d+)-(?P<token>[0-9a-f]{8})$")
_READ_CHUNK = 8 << 20

#: What :meth:`HashingWriter.write` accepts (``collections.abc.Buffer`` needs Python 3.12).
BufferLike = bytes | bytearray | memoryview


def temp_path_for(path: Path) -> Path:
    """A fresh temporary path next to ``path`` (same directory, hidden, unique)."""
    path = Path(path)
    return path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file made by :func:`temp_path_for`."""
    return _TEMP_RE.match(name) is not None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(directory: Path, *, final_prefix: str = "") -> list[Path]:
    """Delete temporary files left in ``directory`` by interrupted writes.

    A temporary file whose writer (the pid in its name) is still alive on this
    host is kept: it may be a write in progress. Files of processes on other
    hosts (shared filesystems) whose pid happens to be free here would be
    removed, which is why one directory must have one writer.

    Args:
        directory: the directory to clean (missing: nothing to do).
        final_prefix: only temp files whose final name starts with this.

    Returns:
        The removed paths.
    """
    removed: list[Path] = []
    try:
        entries = list(Path(directory).iterdir())
    except FileNotFoundError:
        return removed
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if m is None or not m["final"].startswith(final_prefix):
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and _pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
            removed.append(entry)
    return removed


def fsync_dir(directory: Path) -> None:
    """``fsync`` a directory so that renames and unlinks in it are durable.

    Filesystems that cannot sync a directory (some network and FUSE mounts
    answer EINVAL or ENOTSUP) are accepted as they are: the rename has happened,
    only its durability across a power loss is up to that filesystem.
    """
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


class HashingWriter:
    """A binary file wrapper that counts and sha256-hashes what is written.

    ``write`` accepts any buffer (``bytes``, ``memoryview`` over a tensor's
    storage, ...) and passes it to the file without copying it.
    """

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._hash = hashlib.sha256()
        self.size = 0
        #: The first OSError a write raised. Serialisers such as ``torch.save`` may
        #: re-raise it as a generic error; this keeps the real cause (e.g. ENOSPC).
        self.error: OSError | None = None

    def write(self, data: BufferLike) -> int:
        view = memoryview(data).cast("B")
        self._hash.update(view)
        written = 0
        try:
            while written < view.nbytes:  # raw file objects may write partially
                n = self._fh.write(view[written:])
                written += view.nbytes - written if n is None else n
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise
        self.size += view.nbytes
        return view.nbytes

    def flush(self) -> None:
        self._fh.flush()

    def fileno(self) -> int:
        return int(self._fh.fileno())

    @property
    def sha256(self) -> str:
        """Hex sha256 of everything written so far."""
        return self._hash.hexdigest()


@contextlib.contextmanager
def atomic_open(path: Path) -> Iterator[HashingWriter]:
    """Open ``path`` for an atomic, durable binary write.

    Yields a :class:`HashingWriter` on a temporary file next to ``path``; when
    the ``with`` block ends without an exception the file is fsynced and
    renamed onto ``path`` and the directory is fsynced. On an exception
    (including ``KeyboardInterrupt``) the temporary file is removed and the
    exception propagates; an existing ``path`` is left as it was.

    Example::

        with atomic_open(Path("model.pt")) as f:
            torch.save(state, f)
        print(f.size, f.sha256)
    """
    path = Path(path)
    tmp = temp_path_for(path)
    # 0o666 & ~umask, like open(); mkstemp's 0o600 would make final files private.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer = HashingWriter(fh)
            yield writer
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` atomically and durably.

    Returns:
        The sha256 hex digest of ``data``.
    """
    with atomic_open(path) as fh:
        fh.write(data)
    return fh.sha256


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> str:
    """Write ``text`` to ``path`` atomically and durably.

    Returns:
        The sha256 hex digest of the encoded text.
    """
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path: Path, obj: Any, *, indent: int | None = 2) -> str:
    """Write ``obj`` as JSON to ``path`` atomically and durably.

    NaN and infinities are refused (``ValueError``): they are not JSON, and
    other tools (jq, pandas with strict parsers, browsers) reject them.

    Returns:
        The sha256 hex digest of the written bytes.
    """
    try:
        text = json.dumps(obj, indent=indent, allow_nan=False, sort_keys=False)
    except ValueError as exc:
        raise ValueError(f"{path}: cannot write as JSON: {exc}") from None
    return atomic_write_text(path, text + "\n")


def sha256_file(path: Path, *, chunk_bytes: int = _READ_CHUNK) -> str:
    """The sha256 hex digest of a file, read in chunks (constant memory)."""
    h = hashlib.sha256()
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(view):
            h.update(view[:n])
    return h.hexdigest()
