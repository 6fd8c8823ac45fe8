"""The bypass approval matrix (config/approval_matrix.yaml): who approves which layer, for how long.

The file may tighten the failover runbook but never loosen it: the floors below are the
runbook's matrix, and a file that asks for less is refused at start with the file and key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import configfile
import settings
from configfile import key
from store.errors import StoreError

NEVER_ALLOWED = frozenset({"pii", "financial", "compliance"})
LAYERS = ("bronze", "silver", "gold")
# The approver roles of config/roles.yaml (ops.roles.ROLES without admin, who holds every role).
APPROVER_ROLES = ("on_call", "data_eng_lead", "manager")

# The runbook's matrix: the least each layer needs and the longest it may last.
RUNBOOK_FLOOR: Mapping[str, tuple[frozenset[str], float]] = MappingProxyType({
    "silver": (frozenset({"data_eng_lead"}), 24.0),
    "gold": (frozenset({"data_eng_lead", "manager"}), 12.0),
    "bronze": (frozenset({"data_eng_lead"}), 24.0),
})


class MatrixError(StoreError, configfile.ConfigFileError):
    """The approval matrix file is missing or breaks the runbook."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer of config/approval_matrix.yaml."""

    approvers: tuple[str, ...] = key(choices=APPROVER_ROLES, min_items=1, unique=True, example="approvers: [data_eng_lead]")
    max_hours: float = key(above=0, example="max_hours: 24")


def _never_loosened(never_allowed: tuple[str, ...]) -> Iterator[tuple[str, str, str]]:
    missing = sorted(NEVER_ALLOWED - set(never_allowed))
    if missing:
        yield ("", f"lacks {missing}; the failover runbook never allows bypassing them",
               "write `never_allowed: [pii, financial, compliance]`")


def _within_runbook(layers: Mapping[str, LayerSpec]) -> Iterator[tuple[str, str, str]]:
    """The file may tighten the runbook, never loosen it."""
    for name, spec in layers.items():
        floor_roles, ceiling = RUNBOOK_FLOOR[name]
        if not floor_roles <= set(spec.approvers):
            yield (f"{name}.approvers", f"must include {sorted(floor_roles)} (failover runbook)",
                   "the file may add approvers, never remove them")
        if spec.max_hours > ceiling:
            yield (f"{name}.max_hours", f"is {spec.max_hours:g} but the failover runbook allows at most {ceiling:g} h",
                   f"set max_hours to {ceiling:g} or less")


@dataclass(frozen=True)
class MatrixFile:
    """config/approval_matrix.yaml: never-allowed data classes and the approvers per layer."""

    never_allowed: tuple[str, ...] = key(choices=tuple(sorted(NEVER_ALLOWED)), check=_never_loosened,
                                         example="never_allowed: [pii, financial, compliance]")
    layers: Mapping[str, LayerSpec] = key(names=LAYERS, min_items=1, check=_within_runbook,
                                          example="layers: {silver: {approvers: [data_eng_lead], max_hours: 24}}")


@dataclass(frozen=True)
class LayerPolicy:
    layer: str
    approvers: tuple[str, ...]  # one distinct person per role
    max_hours: float

    def describe(self) -> str:
        roles = " + ".join(self.approvers)
        return f"{self.layer}: {roles}, at most {self.max_hours:g} h"


@dataclass(frozen=True)
class ApprovalMatrix:
    never_allowed: frozenset[str]
    layers: Mapping[str, LayerPolicy]
    file: str

    def policy(self, layer: str) -> LayerPolicy | None:
        return self.layers.get(layer)

    def forbidden_classes(self, data_classes: list[str] | tuple[str, ...]) -> list[str]:
        return sorted(set(data_classes) & self.never_allowed)


def matrix_file() -> Path:
    return settings.get("DQ_CONFIG_DIR") / "approval_matrix.yaml"


def load(path: Path | None = None) -> ApprovalMatrix:
    """Parse and validate the matrix; every error names the file, line and key."""
    path = path or matrix_file()
    if not path.is_file():
        raise configfile.missing_file(path, "restore config/approval_matrix.yaml (see docs/gate.md)", MatrixError)
    parsed = configfile.load(path, MatrixFile, error=MatrixError)
    policies = {name: LayerPolicy(name, spec.approvers, spec.max_hours) for name, spec in parsed.layers.items()}
    return ApprovalMatrix(frozenset(parsed.never_allowed), MappingProxyType(policies), str(path))
