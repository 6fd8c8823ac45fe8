"""Exceptions of the store package: one base, one-line subclasses."""


class StoreError(Exception):
    """Base of every store error; its message names what is wrong and ends with a Hint."""


class StoreUnreachable(StoreError):
    """The store database cannot be reached."""


class SchemaOutOfDate(StoreError):
    """The store has not been migrated to the schema this code needs."""


class UnknownSchema(SchemaOutOfDate):
    """The store's schema is not one the migrations know (newer, foreign, or without a record)."""


class MigrationFailed(StoreError):
    """A revision failed; the whole migrate was rolled back."""


class NotFound(StoreError):
    """The requested record does not exist."""


class InvalidTransition(StoreError):
    """A state change that the record's current state does not allow."""


class PolicyViolation(StoreError):
    """A write refused by policy (bypass matrix, four eyes, never-allowed data class)."""


class LeaseHeld(StoreError):
    """Another scheduler holds the lease."""


class RuleMoveRefused(StoreError):
    """A manifest defines a rule that already belongs to another suite, and --move was not given."""


class FenceLost(StoreError):
    """A scheduler's registration or a suite lease was taken over: its writes are refused."""
