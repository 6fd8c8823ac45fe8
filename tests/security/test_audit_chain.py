"""Red team: rewriting the audit log's history with write access to the store, on SQLite and PostgreSQL.

Each attack edits, deletes, reorders, replaces or forges audit rows the way someone holding the
store's login would (triggers dropped or disabled where the database allows it). `audit verify`
must name the first broken row and exit 1, and the gate must refuse (exit 2) naming it, with a
gate.refused audit row appended after the break.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli import main
from store import audit as audit_store
from store import db
from tests.security.gate_attacks import Bench, audit, raw, suite_yaml

GATE = ["dq_gate", "--suite", "silver.shipments", "--max-age", "60"]


@pytest.fixture
def bench(store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Bench:
    monkeypatch.delenv("DQ_TEST_ALLOW_CLOCK_OVERRIDE", raising=False)
    bench = Bench(tmp_path, monkeypatch)
    bench.table("shipments")
    bench.load({"silver.yaml": suite_yaml("silver.shipments", "shipments")})
    assert main(["run_dq_checks", "--suite", "silver.shipments"]) == 1
    assert len(_ids()) >= 4, "the bench needs a few audit rows to attack"
    return bench


def _ids() -> list[int]:
    with db.read() as conn:
        return list(conn.execute(sa.text("SELECT id FROM audit_log ORDER BY id")).scalars())


def _untriggered(sql: str, **params: object) -> None:
    """An attacker who owns the store: the append-only triggers dropped (SQLite) or disabled (PostgreSQL)."""
    with db.write() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            for verb in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS audit_log_no_{verb}")
        else:
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        conn.execute(sa.text(sql), params)
        if not sqlite:
            conn.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def _verify_names(capsys: pytest.CaptureFixture[str], where: str, problem: str) -> None:
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert f"audit log broken at {where}: " in err and problem in err, err
    assert "Hint:" in err


def _gate_refuses(capsys: pytest.CaptureFixture[str], where: str) -> None:
    since = max(_ids())
    capsys.readouterr()
    assert main(GATE) == 2
    err = capsys.readouterr().err
    assert "REFUSED - records are not intact" in err and f"audit log broken at {where}" in err, err
    refused = audit("gate.refused", since)
    assert refused and f"audit log broken at {where}" in refused[-1]["reason"]


def test_an_untouched_log_verifies(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert f"audit log intact: {len(_ids())} row(s)" in capsys.readouterr().out


EDITS = {
    "actor": "UPDATE audit_log SET actor = 'someone-else' WHERE id = :target",
    "action": "UPDATE audit_log SET action = 'rule.noop' WHERE id = :target",
    "details": "UPDATE audit_log SET details = '{\"forged\": true}' WHERE id = :target",
    "time": "UPDATE audit_log SET at = '2020-01-01 00:00:00' WHERE id = :target",
}


@pytest.mark.parametrize("field", sorted(EDITS))
def test_an_edited_row_is_named(bench: Bench, capsys: pytest.CaptureFixture[str], field: str) -> None:
    target = _ids()[1]
    _untriggered(EDITS[field], target=target)

    _verify_names(capsys, f"row #{target}", "its contents do not match its hash")
    _gate_refuses(capsys, f"row #{target}")


def test_a_deleted_row_breaks_the_next_link(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids()
    _untriggered("DELETE FROM audit_log WHERE id = :target", target=ids[1])

    _verify_names(capsys, f"row #{ids[2]}", f"does not match the hash of row #{ids[0]}")
    _gate_refuses(capsys, f"row #{ids[2]}")


def test_rows_cut_off_the_end_do_not_match_the_head(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids()
    _untriggered("DELETE FROM audit_log WHERE id >= :cut", cut=ids[-2])

    _verify_names(capsys, "the chain head", f"names row #{ids[-1]} as the last, but the log ends at row #{ids[-3]}")
    _gate_refuses(capsys, "the chain head")


def test_a_deleted_first_row_breaks_the_start(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids()
    _untriggered("DELETE FROM audit_log WHERE id = :target", target=ids[0])

    _verify_names(capsys, f"row #{ids[1]}", "does not match the start of the chain")
    _gate_refuses(capsys, f"row #{ids[1]}")


def test_two_rows_swapped_are_named(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids()
    first, second = ids[1], ids[2]
    _untriggered("UPDATE audit_log SET id = -1 WHERE id = :a", a=first)
    _untriggered("UPDATE audit_log SET id = :a WHERE id = :b", a=first, b=second)
    _untriggered("UPDATE audit_log SET id = :b WHERE id = -1", b=second)

    _verify_names(capsys, f"row #{first}", "a row before it was deleted, inserted or moved")
    _gate_refuses(capsys, f"row #{first}")


def test_a_forged_row_appended_with_a_made_up_hash(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    with db.read() as conn:
        last = conn.execute(sa.text("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar_one()
    raw(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, details, prev_hash, row_hash) "
        "VALUES ('2026-01-01 00:00:00', 'data-eng-lead@company.com', 'bypass.approved', 'bypass', '1', '{}', :prev, :hash)",
        prev=last, hash="f" * 64,
    )
    forged = _ids()[-1]

    _verify_names(capsys, f"row #{forged}", "its contents do not match its hash")
    _gate_refuses(capsys, f"row #{forged}")


def test_a_row_inserted_without_a_hash(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    raw("INSERT INTO audit_log (at, actor, action, entity, details) VALUES ('2026-01-01 00:00:00', 'x', 'y', 'rule', '{}')")
    forged = _ids()[-1]

    _verify_names(capsys, f"row #{forged}", "it has no hash")
    _gate_refuses(capsys, f"row #{forged}")


@pytest.mark.parametrize("digest", ["sha256", "other-key-hmac"])
def test_an_edit_with_the_chain_recomputed_without_the_key(
    bench: Bench, capsys: pytest.CaptureFixture[str], digest: str
) -> None:
    """The attacker edits a row and recomputes every hash after it, but has no signing key."""
    import hmac
    import json

    target = _ids()[1]
    _untriggered("UPDATE audit_log SET actor = 'mallory@company.com' WHERE id = :target", target=target)
    with db.read() as conn:
        rows = conn.execute(sa.text("SELECT id FROM audit_log ORDER BY id")).scalars().all()
        full = {r.id: r for r in conn.execute(sa.select(audit_store.audit_log))}
    prev = audit_store.GENESIS if rows[0] == target else full[rows[rows.index(target) - 1]].row_hash
    for row_id in rows[rows.index(target):]:
        row = full[row_id]
        body = json.dumps({"row": [row.actor, row.action, row.entity, row.entity_id, row.details], "prev": prev}).encode()
        new = hashlib.sha256(body).hexdigest() if digest == "sha256" else hmac.new(b"guess", body, "sha256").hexdigest()
        _untriggered("UPDATE audit_log SET prev_hash = :prev, row_hash = :new WHERE id = :id", prev=prev, new=new, id=row_id)
        prev = new

    _verify_names(capsys, f"row #{target}", "its contents do not match its hash")
    _gate_refuses(capsys, f"row #{target}")


def test_the_head_moved_back_after_cutting_the_tail(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    ids = _ids()
    with db.read() as conn:
        keep = conn.execute(sa.text("SELECT row_hash FROM audit_log WHERE id = :id"), {"id": ids[-2]}).scalar_one()
    _untriggered("DELETE FROM audit_log WHERE id = :last", last=ids[-1])
    raw("UPDATE audit_chain SET last_id = :id, last_hash = :hash", id=ids[-2], hash=keep)

    _verify_names(capsys, "the chain head", "fails its signature")
    _gate_refuses(capsys, "the chain head")


def test_a_deleted_head_stops_every_write_loudly(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    raw("DELETE FROM audit_chain")

    _verify_names(capsys, "the chain head", "is missing")
    capsys.readouterr()
    assert main(GATE) == 2
    err = capsys.readouterr().err
    assert "audit chain's head row is missing" in err and "gate.refused cannot be recorded" in err, err


@pytest.mark.parametrize("sql", [
    "UPDATE audit_log SET actor = 'x'",
    "DELETE FROM audit_log",
])
def test_the_triggers_still_refuse_plain_edits(bench: Bench, sql: str) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        raw(sql)
    assert main(["audit", "verify"]) == 0


def test_insert_or_replace_rewrites_nothing_unnoticed(bench: Bench, capsys: pytest.CaptureFixture[str]) -> None:
    """SQLite's INSERT OR REPLACE is a delete plus an insert; PostgreSQL's upsert is an UPDATE (refused)."""
    target = _ids()[1]
    replace = (
        "INSERT OR REPLACE INTO audit_log (id, at, actor, action, entity, entity_id, details, prev_hash, row_hash) "
        "SELECT id, at, 'mallory@company.com', action, entity, entity_id, details, prev_hash, row_hash "
        "FROM audit_log WHERE id = :target"
    )
    with db.read() as conn:
        sqlite = conn.dialect.name == "sqlite"
    if not sqlite:
        replace = (
            "INSERT INTO audit_log (id, at, actor, action, entity, entity_id, details, prev_hash, row_hash) "
            "SELECT id, at, 'mallory@company.com', action, entity, entity_id, details, prev_hash, row_hash "
            "FROM audit_log WHERE id = :target ON CONFLICT (id) DO UPDATE SET actor = EXCLUDED.actor"
        )
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            raw(replace, target=target)
        assert main(["audit", "verify"]) == 0
        return
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        raw(replace, target=target)  # the product's connections fire the DELETE trigger (recursive_triggers)
    import sqlite3

    path = db.get_engine().url.database
    with sqlite3.connect(str(path)) as plain:  # the sqlite3 shell: no recursive_triggers, the trigger stays silent
        plain.execute(replace.replace(":target", str(target)))

    _verify_names(capsys, f"row #{target}", "replaced with INSERT OR REPLACE")
    _gate_refuses(capsys, f"row #{target}")


def test_concurrent_writers_do_not_fork_the_chain(bench: Bench) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def write(n: int) -> None:
        for i in range(10):
            with db.write() as conn:
                audit_store.record(conn, f"writer{n}", "test.concurrent", "rule", i)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))

    with db.read() as conn:
        report = audit_store.verify(conn)
    assert report.ok, report
    assert len(audit("test.concurrent")) == 40


def test_a_backup_restored_into_a_new_store_still_verifies(bench: Bench, tmp_path: Path) -> None:
    from ops import backup

    target = db.get_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    backup.backup(tmp_path / "bk")
    backup.restore(tmp_path / "bk", actor="tester", engine=target)

    with db.read(target) as conn:
        report = audit_store.verify(conn)
    assert report.ok, report
    assert report.rows == len(_ids()) + 1  # the restore's own store.restored row, chained on
