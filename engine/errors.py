"""Exceptions of the engine package: one base, one-line subclasses."""


class EngineError(Exception):
    """Base of every engine error; the message names the rule or table and ends with a Hint."""


class SourceUnavailable(EngineError):
    """The source database or file cannot be read (connection refused, bad URL, missing file)."""


class SourceNotConfigured(EngineError):
    """A source named in the rules has no URL in the environment or secrets.toml."""


class SchemaMismatch(EngineError):
    """A table or column the rules name does not exist in the source."""


class CheckFailedToRun(EngineError):
    """One rule could not be evaluated (bad expression, type mismatch)."""


class SuiteTimeout(EngineError):
    """The suite ran longer than DQ_SUITE_TIMEOUT_SECONDS."""
