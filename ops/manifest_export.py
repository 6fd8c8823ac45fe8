"""The live rules written back as one YAML manifest that `load_dq_rules` accepts.

The file is a YAML stream of documents separated by `---`: first the `sources:` document of
DQ_RULES_DIR/sources.yaml (when there is one, so the file loads on its own), then one
document per suite, the suite's mapping as it was loaded with its live rules under `rules:`
in manifest order.
Retired and removed rules are left out; a rule disabled in the store is written with
`enabled: false`, so loading the file gives back what is live.
"""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy.engine import Connection

import settings
from ops.errors import ExportFailed
from store import export as store_export

HEADER = (
    "# Rule manifest exported from the DQ store: one YAML document per suite.\n"
    "# Load it with `python manage.py load_dq_rules FILE`.\n"
)


def manifest_documents(conn: Connection, suite: str | None = None) -> list[dict[str, Any]]:
    documents = []
    for definition, rule_definitions in store_export.manifest_rows(conn, suite):
        document = {key: value for key, value in definition.items() if key != "rules"}
        document["rules"] = rule_definitions
        documents.append(document)
    return documents


def source_documents() -> list[dict[str, Any]]:
    """The `sources:` documents of DQ_RULES_DIR/sources.yaml (names and env var names, no secrets)."""
    path = settings.get("DQ_RULES_DIR") / "sources.yaml"
    if not path.is_file():
        return []
    try:
        documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ExportFailed(f"{path} is not valid YAML: {exc}. Hint: fix it (`load_dq_rules --dry-run` shows where).") from exc
    return [d for d in documents if isinstance(d, dict) and "sources" in d]


def manifest_yaml(conn: Connection, suite: str | None = None) -> tuple[str, int]:
    """The manifest text (sources first, then suites) and the number of suites in it."""
    documents = manifest_documents(conn, suite)
    stream = [*source_documents(), *documents]
    body = yaml.safe_dump_all(stream, sort_keys=False, allow_unicode=True, explicit_start=True)
    return HEADER + body, len(documents)
