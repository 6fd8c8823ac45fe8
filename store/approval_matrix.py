"""The bypass approval matrix (config/approval_matrix.yaml): who approves which layer, for how long.

The file may tighten the failover runbook but never loosen it: the floors below are the
runbook's matrix, and a file that asks for less is refused at start with the file and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

import settings
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


class MatrixError(StoreError):
    """The approval matrix file is missing or breaks the runbook."""


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
    """Parse and validate the matrix; every error names the file and the key."""
    path = path or matrix_file()
    if not path.is_file():
        raise MatrixError(f"{path}: not found. Hint: restore config/approval_matrix.yaml (see docs/gate.md).")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise MatrixError(f"{path}: invalid YAML: {exc}. Hint: fix the YAML syntax.") from exc
    if not isinstance(data, dict):
        raise MatrixError(f"{path}: expected a mapping with `never_allowed` and `layers`. Hint: see docs/gate.md.")
    unknown = sorted(set(data) - {"never_allowed", "layers"})
    if unknown:
        raise MatrixError(f"{path}: unknown key(s) {unknown}. Hint: use only never_allowed and layers.")
    never = _never_allowed(path, data.get("never_allowed"))
    layers = data.get("layers")
    if not isinstance(layers, dict) or not layers:
        raise MatrixError(f"{path}: key `layers` must map layer -> {{approvers, max_hours}}. Hint: see docs/gate.md.")
    policies = {str(name): _layer(path, str(name), spec) for name, spec in layers.items()}
    return ApprovalMatrix(never, MappingProxyType(policies), str(path))


def _never_allowed(path: Path, value: Any) -> frozenset[str]:
    if not isinstance(value, list):
        raise MatrixError(f"{path}: key `never_allowed` must be a list. Hint: never_allowed: [pii, financial, compliance].")
    given = frozenset(str(v) for v in value)
    missing = sorted(NEVER_ALLOWED - given)
    if missing:
        raise MatrixError(
            f"{path}: key `never_allowed` lacks {missing}; the failover runbook never allows bypassing them. "
            "Hint: never_allowed: [pii, financial, compliance]."
        )
    extra = sorted(given - NEVER_ALLOWED)
    if extra:
        raise MatrixError(f"{path}: key `never_allowed` has unknown data class(es) {extra}. Hint: use pii, financial, compliance.")
    return given


def _layer(path: Path, name: str, spec: Any) -> LayerPolicy:
    key = f"layers.{name}"
    if name not in LAYERS:
        raise MatrixError(f"{path}: key `{key}`: unknown layer. Hint: use {', '.join(LAYERS)}.")
    if not isinstance(spec, dict) or set(spec) != {"approvers", "max_hours"}:
        raise MatrixError(f"{path}: key `{key}` must have exactly `approvers` and `max_hours`. Hint: see docs/gate.md.")
    approvers = spec["approvers"]
    if not isinstance(approvers, list) or not approvers or len(set(approvers)) != len(approvers):
        raise MatrixError(f"{path}: key `{key}.approvers` must be a non-empty list of distinct roles. Hint: e.g. [data_eng_lead].")
    bad = [r for r in approvers if r not in APPROVER_ROLES]
    if bad:
        raise MatrixError(f"{path}: key `{key}.approvers` has unknown role(s) {bad}. Hint: use {', '.join(APPROVER_ROLES)}.")
    hours = spec["max_hours"]
    if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
        raise MatrixError(f"{path}: key `{key}.max_hours` must be a positive number of hours. Hint: e.g. 24.")
    floor_roles, ceiling = RUNBOOK_FLOOR[name]
    if not floor_roles <= set(approvers):
        raise MatrixError(
            f"{path}: key `{key}.approvers` must include {sorted(floor_roles)} (failover runbook). "
            "Hint: the file may add approvers, never remove them."
        )
    if hours > ceiling:
        raise MatrixError(
            f"{path}: key `{key}.max_hours` is {hours:g} but the failover runbook allows at most {ceiling:g} h. "
            f"Hint: set max_hours to {ceiling:g} or less."
        )
    return LayerPolicy(name, tuple(str(r) for r in approvers), float(hours))
