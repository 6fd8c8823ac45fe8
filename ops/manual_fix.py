"""Failover Option C: record a manual fix (SQL run by hand in Athena/Redshift) with a bypass's checklist.

The SQL file is read once, bounded and as UTF-8 text, and stored with its sha256; it is never run.
The record waits for the approval matrix's roles like a bypass and the gate never honours it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

from ops import approver_notices, permissions
from ops.bypass import failure_details
from ops.errors import InvalidRequest
from ops.roles import User
from store import manual_fixes
from store.bypass import NewRequest
from store.manual_fixes import SqlFile

MAX_SQL_BYTES = 256 * 1024
_log = logging.getLogger(__name__)


def read_sql_file(path: Path) -> SqlFile:
    """The file's text, sha256 and size; refuses links, non-files, non-.sql names, binary and oversize."""
    shown = str(path)
    if path.suffix.lower() != ".sql":
        raise InvalidRequest(f"--sql-file {shown}: not a .sql file. Hint: save the statements you ran as fix.sql.")
    if path.is_symlink() or os.path.realpath(path) != os.path.abspath(path):
        raise InvalidRequest(f"--sql-file {shown} is (or goes through) a symbolic link. "
                             "Hint: pass the SQL file itself, not a link to it.")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        raise InvalidRequest(f"--sql-file {shown} cannot be opened: {exc.strerror}. "
                             "Hint: check the path and that you may read it.") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InvalidRequest(f"--sql-file {shown} is not a regular file. Hint: pass the SQL file you ran.")
    with os.fdopen(fd, "rb") as handle:
        if info.st_size > MAX_SQL_BYTES:
            raise InvalidRequest(f"--sql-file {shown} has {info.st_size} bytes, more than the {MAX_SQL_BYTES} "
                                 "a record keeps. Hint: record the statements you ran, not data or a dump.")
        data = handle.read(MAX_SQL_BYTES + 1)
    if len(data) > MAX_SQL_BYTES:  # grew while we read it
        raise InvalidRequest(f"--sql-file {shown} is larger than {MAX_SQL_BYTES} bytes. Hint: record the statements only.")
    if not data.strip():
        raise InvalidRequest(f"--sql-file {shown} is empty. Hint: pass the SQL you ran.")
    if b"\x00" in data:
        raise InvalidRequest(f"--sql-file {shown} holds binary data (a NUL byte at {data.index(0)}). "
                             "Hint: pass the SQL text you ran.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"--sql-file {shown} is not UTF-8 text (byte {exc.start}). "
                             "Hint: save it as UTF-8.") from exc
    return SqlFile(path.name, hashlib.sha256(data).hexdigest(), len(data), text)


def record(user: User, new: NewRequest, sql_file: Path) -> int:
    """Record the manual fix as pending; its approvers are told, as for a bypass request."""
    permissions.require(user, "manual_fix_record")
    sql = read_sql_file(sql_file)
    found = failure_details(new.suite)
    filled = replace(new, failure_details=new.failure_details.strip() or found.text,
                     run_id=new.run_id if new.run_id is not None else found.run_id,
                     violation_ids=new.violation_ids or found.violation_ids)
    request_id = manual_fixes.record(user, filled, sql)
    try:
        approver_notices.notify_approvers()
    except Exception:  # noqa: BLE001 - the record is filed; the scheduler's job notifies them within 30 s
        _log.exception("manual fix #%s is recorded, but its approvers could not be notified yet", request_id)
    return request_id
