"""Exceptions of the operations use cases (export, backup, restore, retention): one base, one-line subclasses."""

from configfile import ConfigFileError


class OpsError(Exception):
    """Base of every operations error; the message names what is wrong and ends with a Hint."""


class ExportFailed(OpsError):
    """An export could not be written."""


class BackupFailed(OpsError):
    """A backup could not be taken or written."""


class RestoreRefused(OpsError):
    """A restore that would lose or mix data (non-empty store, damaged or newer backup)."""


class ArchiveFailed(OpsError):
    """An archive batch could not be written or verified; nothing of it was deleted."""


class InvalidRequest(OpsError):
    """Arguments that cannot work (unknown kind or rule, negative days, unwritable file)."""


class ReportConfigError(OpsError, ConfigFileError):
    """config/reports.yaml is malformed."""


class PermissionDenied(OpsError):
    """The user's roles do not allow the action (ops.permissions); the message names who can."""
