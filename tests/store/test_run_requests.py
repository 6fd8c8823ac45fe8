import pytest
import sqlalchemy as sa

from store import db, schema
from store.errors import NotFound, StoreError
from store.run_requests import request_run
from tests import seed


def test_request_run_queues_a_pending_request_and_audits(store_url: str) -> None:
    seed.suite()
    seed.rule()
    request_id = request_run("silver.orders", "orders_id_not_null", requested_by="oncall@x")
    with db.read() as conn:
        row = conn.execute(sa.select(schema.run_requests)).mappings().one()
        actor = conn.execute(sa.select(schema.audit_log.c.actor)).scalar()
    assert (row["id"], row["status"], row["origin"], row["rule_name"], row["requested_by"]) == (
        request_id, "pending", "console", "orders_id_not_null", "oncall@x")
    assert actor == "oncall@x"


@pytest.mark.parametrize(("suite", "rule", "kwargs", "error", "match"), [
    ("silver.nope", None, {}, NotFound, "suite 'silver.nope' is not in the store"),
    ("silver.orders", "other_rule", {}, NotFound, "not in suite"),
    ("silver.orders", None, {"origin": "web"}, StoreError, "unknown run request origin"),
])
def test_request_run_rejects_unknown_targets(sqlite_store: str, suite, rule, kwargs, error, match) -> None:
    seed.suite()
    seed.rule()
    with pytest.raises(error, match=match):
        request_run(suite, rule, requested_by="a@x", **kwargs)
