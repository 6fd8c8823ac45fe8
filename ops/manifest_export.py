"""The live rules written back as one YAML manifest that `load_dq_rules` accepts.

The file is a YAML stream: one document per suite, separated by `---`, each document the
suite's mapping as it was loaded with its live rules under `rules:` in manifest order.
Retired and removed rules are left out; a rule disabled in the store is written with
`enabled: false`, so loading the file gives back what is live.
"""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy.engine import Connection

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


def manifest_yaml(conn: Connection, suite: str | None = None) -> tuple[str, int]:
    """The manifest text and the number of suites in it."""
    documents = manifest_documents(conn, suite)
    body = yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, explicit_start=True)
    return HEADER + body, len(documents)
