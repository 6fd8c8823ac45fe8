"""Exceptions of the engine package: one base, one-line subclasses; kept free of heavy imports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class EngineError(Exception):
    """Base of every engine error; the message names the rule or table and ends with a Hint."""


class SourceUnavailable(EngineError):
    """The source database or file cannot be read (connection refused, bad URL, missing file)."""


class ReadCancelled(SourceUnavailable):
    """A read was ended inside the source: its statement timeout fired or it was cancelled."""


class SourceNotConfigured(EngineError):
    """A source named in the rules has no URL in the environment or secrets.toml."""


class SchemaMismatch(EngineError):
    """A table or column the rules name does not exist in the source."""


class CheckFailedToRun(EngineError):
    """One rule could not be evaluated (bad expression, type mismatch)."""


class LocalOnlyHere(CheckFailedToRun):
    """This rule's SQL form cannot run in this dialect (a function it lacks): the local executor runs it."""



@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    message: str
    hint: str
    rule: str | None = None
    key: str | None = None

    def __str__(self) -> str:
        parts = [f"{self.file}:{self.line}" if self.line else self.file]
        if self.rule:
            parts.append(f"rule {self.rule!r}")
        if self.key:
            parts.append(f"key {self.key!r}")
        return f"{' '.join(parts)}: {self.message}. Hint: {self.hint}"


MAX_LISTED = 50  # problems printed; a generated file can have thousands


class ManifestError(Exception):
    """One or more problems in rule manifests; str() lists every one of them."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(sorted(problems, key=lambda p: (p.file, p.line or 0)))
        count = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems[:MAX_LISTED])
        if count > MAX_LISTED:
            lines += f"\n  ... and {count - MAX_LISTED:,} more (fix these first)"
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in rule manifests:\n{lines}")
