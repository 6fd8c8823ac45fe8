"""Writing files so that a reader never sees half of one: temp file, fsync, rename, fsync the folder."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def check_writable(path: Path) -> str | None:
    """Why `path` cannot be written, or None when it can."""
    if path.is_dir():
        return f"{path} is a folder"
    parent = path.parent
    if not parent.is_dir():
        return f"the folder {parent} does not exist"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"the folder {parent} is not writable"
    if path.exists() and not os.access(path, os.W_OK):
        return f"{path} exists and is not writable"
    return None


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path beside `path`; when the block ends it is fsynced and renamed onto `path`."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_file(tmp)
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
