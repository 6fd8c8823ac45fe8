"""Builds the deterministic demo warehouse: bronze/silver/gold SQLite tables with planted defects.

Every value comes from numpy generators seeded with (seed, table), and every timestamp is an
offset from the anchor: the start of the UTC day of `now`. Two builds with the same seed, scale
and day are byte-identical. Defects are planted at exact counts on disjoint rows (`DEFECTS`), so
the demo rules under rules/ PASS, WARN and FAIL on purpose; docs/demo.md maps defect to rule.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import adbc_driver_sqlite.dbapi as adbc_sqlite
import numpy as np
import polars as pl

import clock
import settings
from engine.sources import DEMO_WAREHOUSE

DEFAULT_SEED = 2026
FILE_NAME = DEMO_WAREHOUSE  # where the `demo: true` source looks when it has no URL
DAY = 86_400
HOUR = 3_600

N_CUSTOMERS = 20_000
N_ORDERS = 100_000
ORDER_HISTORY_DAYS = 120
REVENUE_BUILT_DAYS_AGO = 5  # the daily revenue rollup stopped: the stale table
LTV_BUILT_DAYS_AGO = 3  # the customer LTV job runs late: a freshness warning

CURRENCIES = ["USD", "EUR", "GBP"]
ORDER_STATUSES = ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
COUNTRIES = ["US", "GB", "DE", "FR", "NL", "ES", "IT", "CA", "AU", "JP"]
PAYMENT_METHODS = ["card", "paypal", "bank_transfer", "gift_card"]
CARRIERS = ["DHL", "UPS", "FedEx", "USPS", "PostNL"]
WAREHOUSES = ["AMS1", "FRA2", "LHR1", "JFK3"]
EMAIL_DOMAINS = ["example.com", "example.net", "example.org"]
FIRST_NAMES = [
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "John", "Hedy", "Tim", "Karen", "Donald", "Sophie", "Guido", "Anita", "Niklaus",
    "Carol", "Bjarne", "Lynn", "Leslie", "Shafi", "Jean", "Mary", "Yukihiro", "Fran", "Rasmus",
]
LAST_NAMES = [
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Backus", "Lamarr", "Berners", "Jones", "Knuth", "Wilson",
    "Rossum", "Borg", "Wirth", "Shaw", "Stroustrup", "Conway", "Lamport", "Goldwasser", "Sammet",
    "Shelley", "Matsumoto", "Bilas", "Lerdorf",
]


class DemoError(Exception):
    """The demo warehouse cannot be built (bad arguments, an unwritable path)."""


class DemoExists(DemoError):
    """The demo warehouse file exists and --force was not given."""


@dataclass(frozen=True)
class Defect:
    """One kind of bad data planted on purpose: where, how many rows at scale 1, which rule sees it."""

    key: str
    table: str
    base_count: int
    what: str
    rule: str

    def count(self, scale: float) -> int:
        return max(1, round(self.base_count * scale))


DEFECTS: Mapping[str, Defect] = {
    d.key: d
    for d in [
        Defect("bronze_replayed_rows", "bronze_orders", 1_500, "an hourly file loaded twice: exact duplicate rows", "bronze_orders_no_replayed_rows"),
        Defect("bronze_bad_amounts", "bronze_orders", 2_000, "amount_raw not like 12.34 ('12,50', 'N/A', '', '$9.99', '1.2.3')", "bronze_orders_amount_format"),
        Defect("orders_duplicate_ids", "silver_orders", 40, "order re-emitted by the dedupe job: extra row with the same order_id", "orders_id_unique"),
        Defect("orders_null_emails", "silver_orders", 2_000, "customer_email NULL (guest checkout)", "orders_email_null_rate"),
        Defect("orders_bad_emails", "silver_orders", 300, "customer_email malformed ('a at b.com', no TLD, '@@', trailing space)", "orders_email_format"),
        Defect("orders_unknown_status", "silver_orders", 150, "status outside the lifecycle ('SHIPPED', 'on_hold', 'unknown', '')", "orders_status_known"),
        Defect("orders_negative_amounts", "silver_orders", 80, "negative amount, only in orders older than 30 days", "orders_amount_range"),
        Defect("orders_outlier_amounts", "silver_orders", 3, "amount 250000.00 (test orders), older than 30 days", "orders_amount_range"),
        Defect("orders_orphan_customers", "silver_orders", 300, "customer_id of a deleted customer (not in silver_customers)", "orders_customer_exists"),
        Defect("orders_shipped_without_time", "silver_orders", 60, "status shipped/delivered but shipped_at NULL", "orders_shipped_have_ship_time"),
        Defect("orders_shipped_before_ordered", "silver_orders", 12, "shipped_at earlier than order_ts", "orders_ship_after_order"),
        Defect("orders_schema_drift", "silver_orders", 500, "unannounced column legacy_discount (non-NULL in these rows)", "orders_schema"),
        Defect("customers_null_emails", "silver_customers", 300, "email NULL", "customers_email_not_null"),
        Defect("customers_bad_emails", "silver_customers", 160, "email malformed", "customers_email_format"),
        Defect("customers_shared_emails", "silver_customers", 30, "email copied from another customer", "customers_email_unique"),
        Defect("customers_empty_names", "silver_customers", 25, "full_name '' (empty string, not NULL)", "customers_name_length"),
        Defect("customers_lowercase_country", "silver_customers", 40, "country 'us' instead of 'US'", "customers_country_known"),
        Defect("customers_three_letter_country", "silver_customers", 15, "country 'USA' (ISO alpha-3)", "customers_country_code_length"),
        Defect("customers_born_after_signup", "silver_customers", 2, "birth_date after signup_date", "customers_born_before_signup"),
        Defect("payments_double_capture", "silver_payments", 25, "webhook delivered twice: same (order_id, attempt), new payment_id", "payments_order_attempt_unique"),
        Defect("payments_over_refund", "silver_payments", 7, "refunded_amount greater than amount", "payments_refund_within_amount"),
        Defect("payments_bad_card_last4", "silver_payments", 18, "card_last4 '', '123' or '12345'", "payments_card_last4_length"),
        Defect("shipments_unknown_carrier", "silver_shipments", 35, "carrier 'UNKNOWN'", "shipments_carrier_known"),
        Defect("shipments_negative_weight", "silver_shipments", 9, "weight_kg below zero", "shipments_weight_range"),
    ]
}


@dataclass(frozen=True)
class DemoSpec:
    seed: int = DEFAULT_SEED
    scale: float = 1.0
    anchor: datetime = datetime(2026, 1, 1, tzinfo=UTC)  # start of a UTC day

    def n(self, base: int) -> int:
        return max(10, round(base * self.scale))

    def defects(self, key: str) -> int:
        return DEFECTS[key].count(self.scale)

    def rng(self, table: str) -> np.random.Generator:
        # One stream per table, so a change to one table never shifts the data of another.
        return np.random.default_rng([self.seed, zlib.crc32(table.encode())])

    @property
    def anchor_s(self) -> int:
        return int(self.anchor.timestamp())


@dataclass(frozen=True)
class BuildReport:
    path: Path
    anchor: datetime
    rows: Mapping[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def anchor_of(now: datetime) -> datetime:
    """The start of the UTC day of `now`: every timestamp of the build is an offset from it."""
    if now.tzinfo is None:
        raise DemoError(f"--now {now.isoformat()} has no time zone. Hint: add Z or +00:00.")
    day = now.astimezone(UTC)
    return day.replace(hour=0, minute=0, second=0, microsecond=0)


def default_path() -> Path:
    return Path(settings.get("DQ_DATA_DIR")) / FILE_NAME


def seed_demo(
    path: Path | None = None,
    *,
    force: bool = False,
    scale: float = 1.0,
    now: datetime | None = None,
    seed: int = DEFAULT_SEED,
) -> BuildReport:
    """Builds the warehouse into a temporary file beside `path`, then renames it into place."""
    if not scale > 0:
        raise DemoError(f"rows scale {scale} must be above 0. Hint: use 1 for the standard demo, 5 for a bigger one.")
    path = Path(path) if path is not None else default_path()
    if path.exists() and not force:
        raise DemoExists(f"{path} already exists. Hint: pass --force to rebuild it.")
    started = time.perf_counter()
    spec = DemoSpec(seed=seed, scale=scale, anchor=anchor_of(now or clock.utcnow()))
    tables = build_tables(spec)
    write_sqlite(path, tables)
    rows = {name: frame.height for name, frame in tables.items()}
    return BuildReport(path, spec.anchor, rows, time.perf_counter() - started)


def build_tables(spec: DemoSpec) -> dict[str, pl.DataFrame]:
    """Every table of the warehouse, in creation order."""
    people = _people(spec)
    customers = _silver_customers(spec, people)
    base = _base_orders(spec, people)
    orders = _silver_orders(spec, base, customers)
    shipments = _shipments(spec, base)
    return {
        "bronze_orders": _bronze_orders(spec, base),
        "silver_customers": customers,
        "silver_orders": orders,
        "silver_payments": _payments(spec, base),
        "silver_shipments": shipments,
        "gold_daily_revenue": _daily_revenue(spec, orders, customers),
        "gold_customer_ltv": _customer_ltv(spec, orders),
        "gold_shipping_sla": _shipping_sla(spec, shipments),
        "demo_build_info": _build_info(spec),
    }


class _Picker:
    """Chooses disjoint random rows of one table, so planted defects never overlap or mask each other."""

    def __init__(self, rng: np.random.Generator, n: int, table: str) -> None:
        self._rng = rng
        self._free = np.ones(n, dtype=bool)
        self._table = table

    def take(self, count: int, where: np.ndarray | None = None) -> np.ndarray:
        eligible = self._free if where is None else self._free & where
        candidates = np.flatnonzero(eligible)
        if count > candidates.size:
            raise DemoError(
                f"{self._table}: cannot plant {count} defects on {candidates.size} eligible rows. "
                "Hint: use a larger --rows-scale."
            )
        chosen = np.sort(self._rng.choice(candidates, size=count, replace=False))
        self._free[chosen] = False
        return chosen


def _ts(seconds: np.ndarray | pl.Series) -> pl.Series:
    """Epoch seconds -> naive UTC datetimes (SQLite has no time zones; the rules say UTC)."""
    return pl.from_epoch(pl.Series(seconds, dtype=pl.Int64), time_unit="s")


def _money(values: np.ndarray) -> np.ndarray:
    return np.round(values, 2)


def _pick(rng: np.random.Generator, options: list[str], n: int, p: Iterable[float] | None = None) -> pl.Series:
    """n values drawn from `options` (with probabilities `p`, else uniformly)."""
    chosen = rng.choice(len(options), size=n, p=None if p is None else list(p))
    return pl.Series(np.asarray(options, dtype=object)[chosen], dtype=pl.String)


def _malformed_emails(emails: pl.Series) -> pl.Series:
    """Four realistic ways an address breaks, cycled: ' at ', no TLD, '@@', a trailing space."""
    kind = pl.Series(np.arange(emails.len()) % 4)
    frame = pl.DataFrame({"e": emails, "k": kind})
    e, k = pl.col("e"), pl.col("k")
    broken = (
        pl.when(k == 0).then(e.str.replace("@", " at ", literal=True))
        .when(k == 1).then(e.str.replace(r"\.[a-z]+$", ""))
        .when(k == 2).then(e.str.replace("@", "@@", literal=True))
        .otherwise(e + " ")
    )
    return frame.select(broken).to_series()


def _cycle(values: list[str | None], n: int) -> list[str | None]:
    return [values[i % len(values)] for i in range(n)]


def _people(spec: DemoSpec) -> pl.DataFrame:
    """The customers as the CRM knows them, before anything broke; orders copy their emails."""
    rng, n, day = spec.rng("customers"), spec.n(N_CUSTOMERS), spec.anchor_s
    frame = pl.DataFrame(
        {
            "customer_id": np.arange(1, n + 1),
            "first": _pick(rng, FIRST_NAMES, n),
            "last": _pick(rng, LAST_NAMES, n),
            "domain": _pick(rng, EMAIL_DOMAINS, n),
        }
    )
    signup_days = rng.integers(1, 1_500, n)
    birth_days = signup_days + rng.integers(18 * 365, 80 * 365, n)
    updated = day - rng.integers(5 * 60, 400 * DAY, n)
    updated[np.argmax(updated)] = day - 5 * 60  # the newest change is 5 minutes before the anchor
    first, last = pl.col("first"), pl.col("last")
    return frame.select(
        "customer_id",
        email=pl.format("{}.{}{}@{}", first.str.to_lowercase(), last.str.to_lowercase(), pl.col("customer_id"), pl.col("domain")),
        full_name=pl.format("{} {}", first, last),
        phone=pl.Series([f"+1-555-{v:07d}" for v in rng.integers(0, 10_000_000, n)]),
        country=_pick(rng, COUNTRIES, n, [0.35, 0.15, 0.12, 0.08, 0.06, 0.06, 0.06, 0.05, 0.04, 0.03]),
        birth_date=_ts(day - birth_days * DAY).dt.date(),
        signup_date=_ts(day - signup_days * DAY).dt.date(),
        marketing_opt_in=pl.Series(rng.random(n) < 0.4),
        updated_at=_ts(updated),
    )


def _silver_customers(spec: DemoSpec, people: pl.DataFrame) -> pl.DataFrame:
    rng, n = spec.rng("silver_customers"), people.height
    pick = _Picker(rng, n, "silver_customers")
    email, country, birth = (people[c].clone() for c in ("email", "country", "birth_date"))
    null_idx = pick.take(spec.defects("customers_null_emails"))
    bad_idx = pick.take(spec.defects("customers_bad_emails"))
    shared_idx = pick.take(spec.defects("customers_shared_emails"))
    donors = pick.take(shared_idx.size)
    email = email.scatter(bad_idx, _malformed_emails(email.gather(bad_idx)))
    email = email.scatter(shared_idx, email.gather(donors))
    email = email.scatter(null_idx, None)
    name = people["full_name"].scatter(pick.take(spec.defects("customers_empty_names")), "")
    us = (country == "US").to_numpy()
    country = country.scatter(pick.take(spec.defects("customers_lowercase_country"), us), "us")
    country = country.scatter(pick.take(spec.defects("customers_three_letter_country"), us), "USA")
    late = pick.take(spec.defects("customers_born_after_signup"))
    birth = birth.scatter(late, people["signup_date"].gather(late) + timedelta(days=10))
    birth = birth.scatter(pick.take(max(1, round(n * 0.025))), None)  # birthday not given
    return people.with_columns(email=email, full_name=name, country=country, birth_date=birth)


def _base_orders(spec: DemoSpec, people: pl.DataFrame) -> pl.DataFrame:
    """The clean orders every other order-derived table starts from."""
    rng, n, day = spec.rng("orders"), spec.n(N_ORDERS), spec.anchor_s
    age = np.sort(rng.integers(2 * 60, ORDER_HISTORY_DAYS * DAY, n))[::-1]
    order_ts = day - age
    status = _pick(rng, ORDER_STATUSES, n, [0.03, 0.07, 0.15, 0.65, 0.06, 0.04])
    shipped = status.is_in(["shipped", "delivered", "refunded"]).to_numpy()
    ship_ts = np.minimum(order_ts + rng.integers(2 * HOUR, 72 * HOUR, n), day - 60)
    customer_id = rng.integers(1, people.height + 1, n)
    emails = people["email"].gather(customer_id - 1)
    return pl.DataFrame(
        {
            "order_id": 100_001 + np.arange(n),
            "customer_id": customer_id,
            "customer_email": emails,
            "status": status,
            "amount": _money(rng.lognormal(4.0, 0.8, n)),
            "currency": _pick(rng, CURRENCIES, n, [0.5, 0.35, 0.15]),
            "order_ts": order_ts,
            "shipped_ts": np.where(shipped, ship_ts, -1),
        }
    ).with_columns(pl.when(pl.col("shipped_ts") >= 0).then(pl.col("shipped_ts")).alias("shipped_ts"))


def _silver_orders(spec: DemoSpec, base: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    rng, n, day = spec.rng("silver_orders"), base.height, spec.anchor_s
    pick = _Picker(rng, n, "silver_orders")
    order_ts = base["order_ts"].to_numpy()
    old = order_ts < day - 30 * DAY
    shipped_state = base["status"].is_in(["shipped", "delivered"]).to_numpy()
    email = base["customer_email"].clone()
    email = email.scatter(pick.take(spec.defects("orders_null_emails")), None)
    bad = pick.take(spec.defects("orders_bad_emails"), email.is_not_null().to_numpy())
    email = email.scatter(bad, _malformed_emails(email.gather(bad)))
    status = base["status"].clone()
    unknown = pick.take(spec.defects("orders_unknown_status"), ~shipped_state)
    status = status.scatter(unknown, pl.Series(_cycle(["SHIPPED", "on_hold", "unknown", ""], unknown.size)))
    amount = base["amount"].to_numpy().copy()
    negative = pick.take(spec.defects("orders_negative_amounts"), old)
    amount[negative] = -amount[negative]
    amount[pick.take(spec.defects("orders_outlier_amounts"), old)] = 250_000.0
    customer_id = base["customer_id"].to_numpy().copy()
    orphans = pick.take(spec.defects("orders_orphan_customers"))
    customer_id[orphans] = customers.height + 1 + rng.integers(0, 50, orphans.size)
    shipped_ts = base["shipped_ts"].clone()
    shipped_ts = shipped_ts.scatter(pick.take(spec.defects("orders_shipped_without_time"), shipped_state), None)
    early = pick.take(spec.defects("orders_shipped_before_ordered"), shipped_state)
    shipped_ts = shipped_ts.scatter(early, order_ts[early] - rng.integers(HOUR, 48 * HOUR, early.size))
    discount = pl.Series("legacy_discount", [None] * n, dtype=pl.String)
    drift = pick.take(spec.defects("orders_schema_drift"))
    discount = discount.scatter(drift, pl.Series(_cycle(["SUMMER10", "VIP5", "WELCOME"], drift.size)))
    frame = base.with_columns(
        customer_id=pl.Series(customer_id),
        customer_email=email,
        status=status,
        amount=pl.Series(amount),
        shipped_ts=shipped_ts,
        legacy_discount=discount,
    ).with_columns(updated_ts=pl.max_horizontal("order_ts", "shipped_ts"))
    # The dedupe job re-emits some orders a few minutes later: same order, a second row.
    copies = frame[pick.take(spec.defects("orders_duplicate_ids"))].with_columns(
        updated_ts=pl.min_horizontal(pl.col("updated_ts") + 300, pl.lit(day - 1))
    )
    frame = pl.concat([frame, copies]).sort("order_id", "updated_ts", maintain_order=True)
    return pl.DataFrame(
        {
            "order_id": frame["order_id"],
            "customer_id": frame["customer_id"],
            "customer_email": frame["customer_email"],
            "status": frame["status"],
            "amount": frame["amount"],
            "currency": frame["currency"],
            "order_date": _ts(frame["order_ts"]).dt.date(),
            "order_ts": _ts(frame["order_ts"]),
            "shipped_at": _ts(frame["shipped_ts"]),
            "updated_at": _ts(frame["updated_ts"]),
            "legacy_discount": frame["legacy_discount"],
        }
    )


def _bronze_orders(spec: DemoSpec, base: pl.DataFrame) -> pl.DataFrame:
    """The raw feed as it lands: text amounts and timestamps, a partial last load, a replayed file."""
    rng, n, day = spec.rng("bronze_orders"), base.height, spec.anchor_s
    ingested = np.minimum(base["order_ts"].to_numpy() + rng.integers(5 * 60, 3 * HOUR, n), day - 60)
    cents = np.round(base["amount"].to_numpy() * 100).astype(np.int64)
    amount_raw = pl.DataFrame({"c": cents}).select(
        pl.format("{}.{}", pl.col("c") // 100, (pl.col("c") % 100).cast(pl.String).str.zfill(2))
    ).to_series()
    shouting = rng.random(n) < 0.1  # some upstream systems send statuses in capitals
    frame = pl.DataFrame(
        {
            "order_id": base["order_id"],
            "customer_id": base["customer_id"],
            "customer_email": base["customer_email"],
            "status": pl.Series(np.where(shouting, base["status"].str.to_uppercase().to_numpy(), base["status"].to_numpy())),
            "amount_raw": amount_raw,
            "currency": base["currency"],
            "order_ts": _ts(base["order_ts"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ingested_at": _ts(ingested),
        }
    ).with_columns(
        ingest_date=pl.col("ingested_at").dt.date(),
        source_file=pl.format("orders_{}.csv", pl.col("ingested_at").dt.strftime("%Y%m%d_%H")),
    )
    # The newest load stopped a third of the way through: the partition is partial.
    last_day = frame["ingest_date"].max()
    in_last = frame["ingest_date"] == last_day
    keep = (~in_last) | (in_last.cum_sum() <= round(int(in_last.sum()) * 0.35))
    frame = frame.filter(keep)
    # A backfill re-loaded a block of rows from two weeks ago: exact duplicates. Bad amounts are
    # planted outside that block, so each defect is counted once.
    replay = spec.defects("bronze_replayed_rows")
    start = int(np.searchsorted(frame["ingested_at"].dt.epoch("s").to_numpy(), day - 14 * DAY))
    outside = np.ones(frame.height, dtype=bool)
    outside[start : start + replay] = False
    bad = _Picker(rng, frame.height, "bronze_orders").take(spec.defects("bronze_bad_amounts"), outside)
    frame = frame.with_columns(
        amount_raw=frame["amount_raw"].scatter(bad, pl.Series(_cycle(["12,50", "N/A", "", "$9.99", "1.2.3"], bad.size)))
    )
    return pl.concat([frame, frame.slice(start, replay)])


def _payments(spec: DemoSpec, base: pl.DataFrame) -> pl.DataFrame:
    rng, day = spec.rng("silver_payments"), spec.anchor_s
    paid = base.filter(pl.col("status") != "pending")
    n = paid.height
    first_failed = rng.random(n) < 0.05
    pay_ts = np.minimum(paid["order_ts"].to_numpy() + rng.integers(10, 30 * 60, n), day - 30)
    success_status = np.where(
        paid["status"].to_numpy() == "refunded", "refunded",
        np.where(rng.random(n) < 0.002, "chargeback", np.where(paid["status"].to_numpy() == "paid", "authorized", "captured")),
    )
    success = pl.DataFrame(
        {
            "order_id": paid["order_id"],
            "attempt": np.where(first_failed, 2, 1),
            "amount": paid["amount"],
            "currency": paid["currency"],
            "status": pl.Series(success_status, dtype=pl.String),
            "paid_ts": pay_ts,
        }
    )
    failed = success.filter(pl.Series(first_failed)).with_columns(
        attempt=pl.lit(1, pl.Int64), amount=pl.lit(0.0), status=pl.lit("failed"), paid_ts=pl.col("paid_ts") - 5
    )
    frame = pl.concat([success, failed]).sort("paid_ts", "order_id", "attempt")
    m = frame.height
    method = _pick(rng, PAYMENT_METHODS, m, [0.7, 0.2, 0.08, 0.02])
    is_card = (method == "card").to_numpy()
    last4 = pl.Series([f"{v:04d}" for v in rng.integers(0, 10_000, m)]).zip_with(pl.Series(is_card), pl.Series([None] * m, dtype=pl.String))
    amount = frame["amount"].to_numpy()
    refunded_state = (frame["status"] == "refunded").to_numpy()
    refunded = np.where(refunded_state, _money(amount * rng.uniform(0.2, 1.0, m)), np.nan)
    pick = _Picker(rng, m, "silver_payments")
    over = pick.take(spec.defects("payments_over_refund"), refunded_state)
    refunded[over] = _money(amount[over] + rng.uniform(1, 50, over.size))
    bad4 = pick.take(spec.defects("payments_bad_card_last4"), is_card)
    last4 = last4.scatter(bad4, pl.Series(_cycle(["", "123", "12345"], bad4.size)))
    frame = frame.with_columns(
        payment_id=500_001 + pl.int_range(m),
        method=method,
        card_last4=last4,
        refunded_amount=pl.Series(refunded).fill_nan(None),
    )
    # The payment provider's webhook arrived twice for some captures: a second row, a new id.
    captured = (frame["status"] == "captured").to_numpy()
    copies = frame[pick.take(spec.defects("payments_double_capture"), captured)].with_columns(
        payment_id=500_001 + m + pl.int_range(pl.len()), paid_ts=pl.col("paid_ts") + 2
    )
    frame = pl.concat([frame, copies])
    return frame.select(
        "payment_id", "order_id", "attempt", "amount", "currency", "method", "card_last4", "status",
        "refunded_amount", paid_at=_ts(frame["paid_ts"]),
    )


def _shipments(spec: DemoSpec, base: pl.DataFrame) -> pl.DataFrame:
    rng, day = spec.rng("silver_shipments"), spec.anchor_s
    shipped = base.filter(pl.col("shipped_ts").is_not_null()).sort("shipped_ts", "order_id")
    n = shipped.height
    ship_ts = shipped["shipped_ts"].to_numpy()
    transit = (rng.lognormal(np.log(40), 0.35, n) * HOUR).astype(np.int64)
    arrived = shipped["status"].is_in(["delivered", "refunded"]).to_numpy()
    delivered = pl.Series(np.minimum(ship_ts + transit, day - 60)).zip_with(pl.Series(arrived), pl.Series([None] * n, dtype=pl.Int64))
    carrier = _pick(rng, CARRIERS, n, [0.3, 0.25, 0.2, 0.15, 0.1])
    weight = np.round(rng.lognormal(0.5, 0.7, n), 3)
    pick = _Picker(rng, n, "silver_shipments")
    carrier = carrier.scatter(pick.take(spec.defects("shipments_unknown_carrier")), "UNKNOWN")
    negative = pick.take(spec.defects("shipments_negative_weight"))
    weight[negative] = -weight[negative]
    letters = np.array(list("ABCDEFGHJKLMNPRSTUVWXZ"))
    tracking = [
        f"{a}{b}{d:09d}{c}"
        for a, b, d, c in zip(
            letters[rng.integers(0, letters.size, n)], letters[rng.integers(0, letters.size, n)],
            rng.integers(0, 1_000_000_000, n), _pick(rng, ["NL", "DE", "GB", "US"], n).to_list(), strict=True,
        )
    ]
    return pl.DataFrame(
        {
            "shipment_id": 700_001 + np.arange(n),
            "order_id": shipped["order_id"],
            "carrier": carrier,
            "warehouse_code": _pick(rng, WAREHOUSES, n),
            "tracking_no": pl.Series(tracking, dtype=pl.String),
            "weight_kg": weight,
            "shipped_at": _ts(ship_ts),
            "delivered_at": _ts(delivered),
            "updated_at": _ts(pl.Series(ship_ts).zip_with(delivered.is_null(), delivered)),
        }
    )


def _daily_revenue(spec: DemoSpec, orders: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    """The revenue rollup; its job stopped REVENUE_BUILT_DAYS_AGO days ago (the stale table)."""
    built = spec.anchor - timedelta(days=REVENUE_BUILT_DAYS_AGO)
    countries = customers.select("customer_id", "country")
    return (
        orders.filter(pl.col("order_ts") < built.replace(tzinfo=None), pl.col("status") != "cancelled")
        .join(countries, on="customer_id", how="left")
        .with_columns(pl.col("country").fill_null("unknown"))
        .group_by("order_date", "country", "currency")
        .agg(
            orders=pl.len(),
            revenue=pl.col("amount").sum().round(2),
            refunds=pl.col("amount").filter(pl.col("status") == "refunded").sum().round(2),
        )
        .sort("order_date", "country", "currency")
        .rename({"order_date": "revenue_date"})
        .with_columns(built_at=pl.lit(built.replace(tzinfo=None) + timedelta(hours=2, minutes=10)))
    )


def _customer_ltv(spec: DemoSpec, orders: pl.DataFrame) -> pl.DataFrame:
    """Lifetime value per customer, computed LTV_BUILT_DAYS_AGO days ago (a freshness warning)."""
    built = (spec.anchor - timedelta(days=LTV_BUILT_DAYS_AGO)).replace(tzinfo=None)
    churn_before = (built - timedelta(days=90)).date()
    return (
        orders.filter(pl.col("order_ts") < built, pl.col("status") != "cancelled")
        .group_by("customer_id")
        .agg(
            orders=pl.len(),
            lifetime_value=pl.col("amount").sum().round(2),
            first_order_date=pl.col("order_date").min(),
            last_order_date=pl.col("order_date").max(),
        )
        .with_columns(
            segment=pl.when(pl.col("lifetime_value") >= 1_000).then(pl.lit("vip"))
            .when(pl.col("last_order_date") < churn_before).then(pl.lit("churned"))
            .when(pl.col("orders") == 1).then(pl.lit("new"))
            .otherwise(pl.lit("regular")),
            computed_at=pl.lit(built + timedelta(hours=1)),
        )
        .sort("customer_id")
    )


def _shipping_sla(spec: DemoSpec, shipments: pl.DataFrame) -> pl.DataFrame:
    """On-time delivery per day and carrier; fresh and clean (the all-green, bypassable gold table)."""
    built = (spec.anchor - timedelta(minutes=20)).replace(tzinfo=None)
    late = (pl.col("delivered_at") - pl.col("shipped_at")) > timedelta(hours=72)
    return (
        shipments.group_by(ship_date=pl.col("shipped_at").dt.date(), carrier=pl.col("carrier"))
        .agg(
            shipments=pl.len(),
            delivered=pl.col("delivered_at").is_not_null().sum().cast(pl.Int64),
            late_shipments=late.fill_null(False).sum().cast(pl.Int64),
        )
        .with_columns(
            on_time_rate=pl.when(pl.col("delivered") > 0)
            .then((1 - pl.col("late_shipments") / pl.col("delivered")).round(4)),
            built_at=pl.lit(built),
        )
        .sort("ship_date", "carrier")
    )


def _build_info(spec: DemoSpec) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "key": ["generator", "seed", "rows_scale", "anchor"],
            "value": ["ops/demo.py", str(spec.seed), f"{spec.scale:g}", spec.anchor.isoformat()],
        }
    )


SQLITE_TYPES = {
    pl.Int64: "INTEGER", pl.Int32: "INTEGER", pl.UInt32: "INTEGER", pl.Float64: "REAL",
    pl.String: "TEXT", pl.Boolean: "BOOLEAN", pl.Date: "DATE", pl.Datetime: "DATETIME",
}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and times as the ISO text SQLite and connectorx agree on; booleans as 0/1."""
    return frame.with_columns(
        pl.col(pl.Date).dt.strftime("%Y-%m-%d"),
        pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.col(pl.Boolean).cast(pl.Int64),
    )


def _create_sql(name: str, frame: pl.DataFrame) -> str:
    columns = []
    for column, dtype in frame.schema.items():
        sql_type = SQLITE_TYPES.get(dtype.base_type())
        if sql_type is None:
            raise DemoError(f"{name}.{column} has type {dtype}, which the demo writer has no SQLite type for. Hint: add it to SQLITE_TYPES.")
        columns.append(f"{_quote(column)} {sql_type}")
    return f"CREATE TABLE {_quote(name)} ({', '.join(columns)})"


def write_sqlite(path: Path, tables: Mapping[str, pl.DataFrame]) -> None:
    """Writes every table into a temporary file beside `path`, then renames it over `path`.

    Rows go in as Arrow batches through ADBC's SQLite driver: no Python object per value, which
    makes the load 2-3 times faster than sqlite3.executemany over the same rows.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    try:
        # A private temporary file renamed into place when complete: no journal needed.
        with adbc_sqlite.connect(str(temp), autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=OFF")
            cursor.execute("PRAGMA synchronous=OFF")
            for name, frame in tables.items():
                cursor.execute(_create_sql(name, frame))
                cursor.adbc_ingest(name, _sqlite_ready(frame).to_arrow(), mode="append")
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
