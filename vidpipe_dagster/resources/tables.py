"""The tables vidpipe keeps in its own database, in one place: SQLAlchemy (about a third of a
second to import) loads only when something runs SQL, never with the definitions, and
`database.engine_for` creates every table whatever module asked first.

What the rows mean is told where they are used: `ledger.py` (attempts), `controls.py` (a
person's switches), `lease.py` (project leases), `paid_calls.py` (the money tables).
"""

from __future__ import annotations

import sqlalchemy as sa

METADATA = sa.MetaData()

# The attempt ledger (ledger.py).

attempt_counters = sa.Table(
    "vidpipe_attempt_counters",
    METADATA,
    sa.Column("asset", sa.String(255), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("last_attempt", sa.Integer, nullable=False),
)

attempt_log = sa.Table(
    "vidpipe_attempts",
    METADATA,
    sa.Column("asset", sa.String(255), primary_key=True),
    sa.Column("partition", sa.String(255), primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64)),
    sa.Column("uri", sa.Text),
    sa.Column("scores", sa.Text),
    sa.Column("note", sa.Text),
    # The keys this attempt writes, recorded before its first upload; of an abandoned attempt,
    # those that may still be in storage.
    sa.Column("objects", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The attempt that first stored a copy of an object (a paid answer's file): the original that a
# reused answer's lineage names. Written once per source key (first writer wins), read by key.
object_copies = sa.Table(
    "vidpipe_object_copies",
    METADATA,
    sa.Column("source_key", sa.String(1024), primary_key=True),
    sa.Column("asset", sa.String(255), nullable=False),
    sa.Column("partition", sa.String(255), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("object_key", sa.String(1024), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

# Per-project switches and what needs attention (controls.py).

project_controls = sa.Table(
    "vidpipe_project_controls",
    METADATA,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("paused", sa.Boolean, nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

scene_skips = sa.Table(
    "vidpipe_scene_skips",
    METADATA,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("scene", sa.String(3), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("skipped_at", sa.DateTime(timezone=True), nullable=False),
)

project_attention = sa.Table(
    "vidpipe_project_attention",
    METADATA,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False),
    sa.Column("step", sa.String(255), nullable=False),
    sa.Column("partition", sa.String(255), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
)

# Project leases (lease.py).

leases = sa.Table(
    "vidpipe_project_leases",
    METADATA,
    sa.Column("project_id", sa.String(255), primary_key=True),
    # Empty once released: a holder named here with an expired lease stopped renewing without releasing.
    sa.Column("holder", sa.String(255), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    # Seconds since the epoch by the database's clock: both dialects compare floats exactly alike.
    sa.Column("expires_at", sa.Double, nullable=False),
)

# Budgets, charges, stored answers, operations in flight (paid_calls.py).

budgets = sa.Table(
    "vidpipe_budgets",
    METADATA,
    sa.Column("project_id", sa.String(64), primary_key=True),
    sa.Column("limit_micros", sa.BigInteger, nullable=True),
    sa.Column("spent_micros", sa.BigInteger, nullable=False),
    sa.Column("reserved_micros", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


def _call_columns() -> list[sa.Column]:
    """Who paid for a call, and which call: the columns a charge and a stored answer share."""
    return [
        sa.Column("project_id", sa.String(64), nullable=False, index=True),
        sa.Column("partition", sa.String(255), nullable=False),
        sa.Column("asset", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("method", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(64)),
    ]


charges = sa.Table(
    "vidpipe_charges",
    METADATA,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("request_key", sa.String(64), nullable=False, index=True),
    *_call_columns(),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("estimate_micros", sa.BigInteger, nullable=False),
    sa.Column("actual_micros", sa.BigInteger),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("settled_at", sa.DateTime(timezone=True)),
)

paid_requests = sa.Table(
    "vidpipe_paid_requests",
    METADATA,
    sa.Column("request_key", sa.String(64), primary_key=True),
    *_call_columns(),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("objects", sa.Text, nullable=False),
    sa.Column("cost_micros", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

paid_operations = sa.Table(
    "vidpipe_paid_operations",
    METADATA,
    sa.Column("request_key", sa.String(64), primary_key=True),
    sa.Column("operation", sa.Text, nullable=False),
    sa.Column("charge_id", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(64)),
    # Seconds since the epoch by the database's clock, so every worker judges its age alike.
    sa.Column("started_at", sa.Double, nullable=False),
)
