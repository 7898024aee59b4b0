"""Writing the benchmark's output files: never through a symlink, never half-way.

Every file the benchmarks write goes through one of these helpers:

- `append_bytes` appends to a log-like file (``results.jsonl``): ``O_APPEND`` with
  ``O_NOFOLLOW``, one write of the whole data, then ``fsync``;
- `open_nofollow` opens a file that must stay where it is (the ``.lock``) without
  following a symlink;
- `read_regular` reads a whole file (``results.jsonl``) up to a size limit; it and
  `append_bytes` and the lock take regular files only (a FIFO would block the run forever);
- `atomic_write` and `atomic_open` write a whole file (reports, tables, figures) to a
  temporary file in the same directory, then rename it over the target. A crash, a full disk or
  an exception leaves the old file (or none), never a half-written one; a symlink at the target
  is replaced by the new file, its target is never written.

Where the platform has no ``O_NOFOLLOW`` (Windows) the symlink check is skipped.

Examples:
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> atomic_write(d / "a.txt", "hello\\n").read_text()
    'hello\\n'
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "append_bytes",
    "atomic_open",
    "atomic_write",
    "make_dir",
    "open_nofollow",
    "open_regular",
    "read_regular",
    "refuse_symlink",
]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: Opening a FIFO blocks until the other end opens (for ever, in a benchmark); with O_NONBLOCK
#: the open returns (reading) or fails with ENXIO (writing), and the file type is checked.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def _not_regular(path: str | os.PathLike[str], mode: int | None = None) -> OSError:
    if mode is not None and stat.S_ISDIR(mode):
        return IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    what = "is not a regular file (a FIFO, a socket or a device); expected a file"
    return OSError(errno.EINVAL, what, str(path))


def _checked_regular(fd: int, path: str | os.PathLike[str]) -> int:
    """``fd`` if it is a regular file; else closed, and an error naming ``path``."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _not_regular(path, mode)
    return fd


def open_regular(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """`open_nofollow` for a regular file only: a FIFO, a socket or a device is refused
    before it could block (O_NONBLOCK, which a regular file ignores).

    Raises:
        OSError: ``path`` is a symlink, a directory or not a regular file (the message says
            so), or any error of ``os.open``.
    """
    try:
        fd = open_nofollow(path, flags | _NONBLOCK, mode)
    except OSError as e:
        if e.errno == errno.ENXIO:  # a FIFO opened for writing, no reader at the other end
            raise _not_regular(path) from None
        raise
    return _checked_regular(fd, path)


def read_regular(path: str | os.PathLike[str], limit: int, what: str = "file") -> bytes:
    """The bytes of the regular file ``path`` (symlinks followed), at most ``limit`` of them.

    Raises:
        OSError: not a regular file (a FIFO would block the read for ever), a directory, or
            unreadable.
        ValueError: larger than ``limit`` bytes (refused before any of it is read).
    """
    fd = _checked_regular(os.open(path, os.O_RDONLY | _NONBLOCK), path)
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(fd).st_size
        data = f.read(limit + 1) if size <= limit else b""
        if size > limit or len(data) > limit:
            raise ValueError(
                f"{path}: {max(size, len(data)):,} bytes, more than the {limit:,} a {what} may "
                f"hold; it is not one (move it away), or split the run over several output "
                f"directories"
            )
    return data


def _symlink_error(path: str | os.PathLike[str]) -> OSError:
    what = "is a symlink; refusing to write through it (remove the link)"
    return OSError(errno.ELOOP, what, path)


def refuse_symlink(path: str | os.PathLike[str]) -> None:
    """Raise the `open_nofollow` error now if ``path`` is a symlink (before a long run
    that would write it at its end)."""
    if os.path.islink(path):
        raise _symlink_error(path)


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o644) -> int:
    """``os.open(path, flags | O_NOFOLLOW)``: a file descriptor, never through a symlink.

    Raises:
        OSError: ``path`` is a symlink (errno ``ELOOP``; the message says so), or any error of
            ``os.open``.
    """
    try:
        return os.open(path, flags | _NOFOLLOW, mode)
    except OSError as e:
        if e.errno == errno.ELOOP or (e.errno == errno.EMLINK and os.path.islink(path)):
            raise _symlink_error(path) from None
        raise


def append_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Append ``data`` to ``path`` (created 0o644 if missing) with one write, then fsync.

    ``O_APPEND`` puts the data at the end even if the file grew; a short write is continued; a
    failed write (a full disk) is cut back off, so the file ends where it ended before.
    """
    fd = open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        start = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:  # a regular file takes it in one write; loop in case of a short write
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError:  # a full disk mid-line: take the part back, so no half line remains
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "w", *, newline: str | None = None
) -> Iterator[IO[Any]]:
    """A file object for ``path`` in ``mode`` (``"w"``: UTF-8 text, ``"wb"``: bytes) whose
    content replaces ``path`` only when the block ends without an exception.

    The data goes to a temporary file beside ``path`` (so the rename stays on one file system),
    is fsynced, then renamed over ``path``; on any error the temporary file is removed and
    ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, expected a file", str(target))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):  # mkstemp makes it 0o600; a report is as readable as others
            os.fchmod(fd, 0o644)
        encoding = None if mode == "wb" else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (text is written as UTF-8) through `atomic_open`.

    Returns:
        ``path`` as a `Path`.
    """
    with atomic_open(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def make_dir(path: str | os.PathLike[str]) -> Path:
    """Create the directory ``path`` and its parents (nothing if it exists) and return it.

    Raises:
        NotADirectoryError: ``path`` is a file (or a symlink to one).
        OSError: it cannot be created (a read-only file system, no permission).
    """
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "is a file, expected a directory", str(p))
    p.mkdir(parents=True, exist_ok=True)
    return p
