"""Log lines the runbook can grep: stable texts with key=value fields, to stderr and a rotating file.

Every event the on-call engineer searches for has one fixed text (the constants below) followed by
logfmt fields (`rule=... suite=... severity=HIGH run_id=34`), so `grep "Error executing DQ check"`,
`grep "Alert sent for rule"`, `grep -i timeout` and `grep -E "CRITICAL|HIGH"` work as written.
Credentials never reach a handler: every line is scrubbed of URL passwords and of the values of
secret settings before it is written (`Scrubber`).
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import sys
from collections.abc import Iterable
from pathlib import Path

import settings

# The stable texts. Changing one breaks somebody's grep: add new ones instead.
RUN_FINISHED = "DQ run finished"
CHECK_FAILED = "DQ check failed"
CHECK_ERROR = "Error executing DQ check"
ALERT_SENT = "Alert sent for rule"
ALERT_FAILED = "Alert failed for rule"
SUITE_TIMEOUT = "Suite timeout"
LINEAGE_FAILED = "OpenLineage event failed"

LOGGER = "dq"
FORMAT = "%(asctime)s %(levelname)s %(program)s[%(process)d] %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
_BARE = re.compile(r"[A-Za-z0-9_.\-]+")


def _quote(value: object) -> str:
    text = "" if value is None else str(value)
    if text and _BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def fields(**values: object) -> str:
    """`key=value` pairs in the given order, quoted where needed, None values left out."""
    return " ".join(f"{key}={_quote(value)}" for key, value in values.items() if value is not None)


def event(logger: logging.Logger, level: int, text: str, subject: str | None = None, **values: object) -> None:
    """Log one greppable line: `text [subject]: key=value ...` (subject is e.g. the rule name)."""
    head = f"{text} {subject}" if subject else text
    logger.log(level, "%s: %s", head, fields(**values))


def secret_values(environ: dict[str, str] | None = None) -> list[str]:
    """The values a log line must never show (settings.secret_values: the one list of secrets)."""
    return settings.secret_values(environ)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """The text with URL passwords, secret query parameters and the given secret values masked."""
    return settings.scrub(text, secrets)


class Scrubber(logging.Formatter):
    """The line format, with every credential masked after formatting (message, arguments, traceback)."""

    def __init__(self, program: str) -> None:
        super().__init__(FORMAT, DATE_FORMAT)
        self.program = program
        self.secrets = secret_values()

    def format(self, record: logging.LogRecord) -> str:
        record.program = self.program
        return scrub(super().format(record), self.secrets)


def log_dir() -> Path:
    configured = settings.get("DQ_LOG_DIR")
    return configured if configured is not None else settings.get("DQ_DATA_DIR") / "logs"


class _LazyFile(logging.handlers.RotatingFileHandler):
    """A rotating file created with its folder at the first line: a command that logs nothing leaves
    no trace; a folder that cannot be written is said once on stderr, then lines go to stderr only."""

    failed = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.failed:
            return
        if self.stream is None:  # type: ignore[has-type]
            try:
                Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
                self.stream = self._open()
            except OSError as exc:
                self.failed = True
                sys.stderr.write(f"logging to stderr only: {self.baseFilename} cannot be written ({exc}). "
                                 "Hint: set DQ_LOG_DIR to a writable folder.\n")
                return
        super().emit(record)


def _level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    number = logging.getLevelNamesMapping().get(value.upper())
    if number is None:
        raise settings.SettingsError(f"log level {value!r} is unknown. Hint: set DQ_LOG_LEVEL to DEBUG, INFO, WARNING or ERROR.")
    return number


def configure(program: str, level: str | int | None = None, *, stderr_level: str | int | None = None,
              to_file: bool = True) -> Path | None:
    """Send the product's logs to stderr and to `<DQ_LOG_DIR>/<program>.log` (rotated); returns the file.

    One file per program (scheduler, cli, console): a rotating file must have one writer per
    process that rotates it, and the scheduler's check processes report through their parent.
    Calling it again with the same program and folder (a Streamlit rerun) changes nothing.
    """
    root = logging.getLogger()
    folder = log_dir() if to_file else None
    key = (program, folder, level, stderr_level)
    if getattr(root, "_dq_key", None) == key:
        return getattr(root, "_dq_file", None)
    for handler in list(root.handlers):
        if getattr(handler, "_dq", False):
            root.removeHandler(handler)
            handler.close()
    file_level = _level(level or settings.get("DQ_LOG_LEVEL"))
    shown_level = _level(stderr_level) if stderr_level else file_level
    root.setLevel(min(file_level, shown_level))
    formatter = Scrubber(program)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    stderr.setLevel(shown_level)
    stderr._dq = True  # type: ignore[attr-defined]
    root.addHandler(stderr)
    path: Path | None = None
    if folder is not None:
        path = folder / f"{program}.log"
        handler = _LazyFile(path, maxBytes=int(settings.get("DQ_LOG_MAX_MB") * 1024 * 1024),
                            backupCount=settings.get("DQ_LOG_BACKUPS"), encoding="utf-8", delay=True)
        handler.setFormatter(formatter)
        handler.setLevel(file_level)
        handler._dq = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root._dq_key = key  # type: ignore[attr-defined]
    root._dq_file = path  # type: ignore[attr-defined]
    return path
