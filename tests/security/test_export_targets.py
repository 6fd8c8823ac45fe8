"""Red team, issue 12 deliverable 6: exports write only new paths or regular files, never through a symlink."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.files import UnsafeTarget, atomic_path
from tests.cli.inprocess import run


def _symlink_to(target: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        link = folder / "link.json"
        link.symlink_to(target if target.startswith("/") else folder / target)
        return link
    return make


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "pipe.json")
    return folder / "pipe.json"


def _folder(folder: Path) -> Path:
    (folder / "out.json").mkdir()
    return folder / "out.json"


def _real_file_then_link(folder: Path) -> Path:
    (folder / "precious.txt").write_text("keep me")
    return _symlink_to("precious.txt")(folder)


TARGETS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "/dev/null": (lambda folder: Path("/dev/null"), "is a device"),
    "a FIFO": (_fifo, "is a FIFO"),
    "a folder": (_folder, "is a folder"),
    "a symlink to a file": (_real_file_then_link, "is a symbolic link"),
    "a symlink to /dev/null": (_symlink_to("/dev/null"), "is a symbolic link"),
    "a dangling symlink": (_symlink_to("nowhere.json"), "is a symbolic link"),
}


@pytest.mark.parametrize("kind", list(TARGETS))
def test_export_refuses_a_target_that_is_not_a_regular_file(sqlite_store, tmp_path, capsys, kind) -> None:
    make, said = TARGETS[kind]
    target = make(tmp_path)
    before = os.lstat(target)
    code, _, err = run(capsys, "export_dq_data", "runs", str(target), "--format", "json")
    assert code == 3, err
    assert said in err and "Hint: choose a new file or an existing regular file" in err
    after = os.lstat(target)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode)  # /dev/null is still a device, the link a link
    if kind == "a symlink to a file":
        assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.parametrize("existing", [False, True])
def test_export_writes_a_new_path_or_replaces_a_regular_file(sqlite_store, tmp_path, capsys, existing) -> None:
    target = tmp_path / "runs.json"
    if existing:
        target.write_text("old")
    code, out, err = run(capsys, "export_dq_data", "runs", str(target))
    assert code == 0, err
    assert stat.S_ISREG(os.lstat(target).st_mode) and target.read_text().startswith("[")


def test_a_target_swapped_for_a_symlink_while_writing_is_not_replaced(tmp_path) -> None:
    target = tmp_path / "out.json"
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(UnsafeTarget, match="is a symbolic link; not replaced"), atomic_path(target) as tmp:
        tmp.write_text("new")
        target.symlink_to(tmp_path / "precious.txt")  # an attacker wins the race after the first check
    assert target.is_symlink() and (tmp_path / "precious.txt").read_text() == "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # no temp file left behind


def test_bypass_history_export_refuses_dev_null(sqlite_store, capsys) -> None:
    code, _, err = run(capsys, "bypass", "export", "1", "--output", "/dev/null")
    assert code == 2 and "is a device" in err, err
    assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)
