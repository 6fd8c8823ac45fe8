"""Writing files so that a reader never sees half of one: temp file, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def check_writable(path: Path) -> str | None:
    """Why `path` cannot be written, or None when it can: only a new path or an existing regular file
    (never a symlink, a device such as /dev/null, a FIFO, a socket or a folder) is replaced."""
    kind = _not_regular(path)
    if kind:
        return f"{path} is {kind}; only a new file or an existing regular file is replaced"
    parent = path.parent
    if not parent.is_dir():
        return f"the folder {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} exists and is not writable"
    return None


def _not_regular(path: Path) -> str | None:
    """What `path` is when it exists and is not a regular file (lstat: a symlink is not followed)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return None
    for test, kind in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"


class UnsafeTarget(OSError):
    """The target turned into something other than a new path or a regular file while it was written."""


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside `path`; when the block ends it is fsynced and renamed onto `path`."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_file(tmp)
        kind = _not_regular(path)  # checked again just before the rename: it may have changed meanwhile
        if kind:
            raise UnsafeTarget(f"{path} is {kind}; not replaced")
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    with atomic_path(path) as tmp:
        write(tmp)


def fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
