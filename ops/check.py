"""`manage.py check`: is everything this installation needs there and reachable (the runbook's `check`)?"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import settings
from alerting.errors import PolicyError
from engine.errors import EngineError, ManifestError, SourceNotConfigured
from engine.manifest import load_catalog
from engine.model import Source, Suite
from engine.reader import TableRef, reader_for
from engine.sources import mask, resolve
from ops import configuration, gate, roles
from ops.errors import ReportConfigError
from ops.run_checks import sources
from store import db, migrations
from store.errors import StoreError
from store.rules import live_suites


@dataclass(frozen=True)
class Finding:
    what: str
    ok: bool
    detail: str


Probe = Callable[[], str]
EXPECTED = (StoreError, EngineError, ManifestError, PolicyError, gate.GateConfigError, roles.RolesError,
            settings.SettingsError, ReportConfigError)


def _probe(what: str, probe: Probe) -> Finding:
    try:
        return Finding(what, True, probe())
    except EXPECTED as exc:
        return Finding(what, False, mask(str(exc)))


def _settings() -> str:
    for name in settings.SETTINGS:
        settings.get(name)
    return f"{len(settings.SETTINGS)} settings readable"


def _store() -> str:
    engine = db.get_engine()
    migrations.require_current(engine)
    return f"{engine.url.render_as_string(hide_password=True)} reachable and migrated"


def _manifests() -> str:
    rules_dir = settings.get("DQ_RULES_DIR")
    catalog = load_catalog([rules_dir], default_sources=rules_dir / "sources.yaml")
    return f"{len(catalog.suites)} suites, {len(catalog.rules)} rules valid in {rules_dir}"




def _table(suite: Suite, known: Mapping[str, Source]) -> Probe:
    def probe() -> str:
        if suite.source not in known:
            raise SourceNotConfigured(f"source {suite.source!r} of suite {suite.name!r} is not defined in "
                                      "sources.yaml. Hint: define it and set DQ_SOURCE_<NAME>_URL.")
        location = resolve(known[suite.source])
        table = TableRef(suite.schema, suite.table)
        columns = reader_for(location).probe(table)
        return f"{location.masked()} answers; {table} has {len(columns)} columns"

    return probe


def run() -> list[Finding]:
    """Every finding in order: settings, store, manifests, each config file, then each live suite's table."""
    findings = [
        _probe("settings", _settings),
        _probe("store", _store),
        _probe("rule manifests", _manifests),
        *(Finding(f"config {s.path.name}", s.ok, mask(s.detail)) for s in configuration.validate_all()),
    ]
    if not findings[1].ok:
        return findings
    try:
        known = sources()  # parsed once for every suite
    except ManifestError:
        known = {}  # already reported under "rule manifests"
    for suite in live_suites():
        findings.append(_probe(f"source of {suite.name}", _table(suite, known)))
    return findings
