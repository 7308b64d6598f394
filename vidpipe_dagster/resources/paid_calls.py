"""The money tables, beside the attempt ledger in the same database: budgets, charges, stored
results by request key, and long-running operations in flight.

- `vidpipe_budgets`: one row per project: its limit (NULL = unlimited) and what is spent and
  reserved, in micro-dollars. A reservation is one conditional UPDATE (`spent + reserved +
  estimate <= limit`) in the statement (Postgres) or transaction (SQLite) that records the charge:
  Postgres re-checks the condition on the locked row, SQLite takes the write lock up front, so two
  workers can never both take the last dollars, whatever runs, deployments or queues they come from.
- `vidpipe_charges`: one row per paid call: reserved, then settled (actual cost), released (the
  call failed), abandoned (an operation given up on, counted as spent at its estimate) or reused
  (a stored result answered it, at no cost).
- `vidpipe_paid_requests`: request key -> the stored answer. Written once (insert, never update),
  read by primary key: a lookup costs the same with ten rows or millions, and nothing lists a bucket.
- `vidpipe_paid_operations`: request key -> the name of the long-running operation paid for it,
  written before polling starts, so a worker taking over resumes it instead of paying again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource, Failure
from pydantic import BaseModel, Field

from vidpipe_dagster.domain import validate_project_id
from vidpipe_dagster.pricing import MICROS_PER_USD, PricingTable, format_usd, load_pricing, to_usd
from vidpipe_dagster.resources.database import autocommit_engine_for, database_now, engine_for, upsert
from vidpipe_dagster.resources.storage import BlobStore, BlobStoreResource

if TYPE_CHECKING:
    import sqlalchemy as sa


class ChargeStatus(StrEnum):
    RESERVED = "reserved"
    SETTLED = "settled"
    RELEASED = "released"
    ABANDONED = "abandoned"
    REUSED = "reused"


class BudgetExceeded(Failure):
    """A paid call would take the project past its budget: refused before it is made. Retrying
    cannot help until a person raises the budget, so the step fails at once."""

    def __init__(self, message: str):
        super().__init__(description=message, allow_retries=False)


class BudgetState(BaseModel):
    project_id: str
    limit_micros: int | None
    spent_micros: int
    reserved_micros: int

    def describe(self) -> str:
        limit = "unlimited" if self.limit_micros is None else format_usd(self.limit_micros)
        return f"spent {format_usd(self.spent_micros)}, reserved {format_usd(self.reserved_micros)}, limit {limit}"


class ChargeRequest(BaseModel):
    """Who pays for what: the project, where in it, and the call."""

    project_id: str
    partition: str
    asset: str
    request_key: str
    model: str
    method: str
    run_id: str | None = None


class StoredRequest(BaseModel):
    """A paid call's answer, kept under its request key."""

    request_key: str
    project_id: str
    partition: str
    asset: str
    model: str
    method: str
    run_id: str | None
    result: str = Field(description="The method's return value as JSON.")
    objects: dict[str, str] = Field(default_factory=dict, description="Output file name -> blob store key.")
    cost_micros: int
    created_at: datetime | None = None


class PendingOperation(BaseModel):
    request_key: str
    operation: str
    charge_id: int
    run_id: str | None
    age_s: float


class PartitionCosts(BaseModel):
    partition: str
    spent_micros: int = 0
    reserved_micros: int = 0
    paid_calls: int = 0
    reused_calls: int = 0


class CostTotals(BaseModel):
    """A project's money: its budget row, and what each partition (project step or scene) used."""

    budget: BudgetState
    partitions: dict[str, PartitionCosts]

    @property
    def reused_calls(self) -> int:
        return sum(p.reused_calls for p in self.partitions.values())

    @property
    def paid_calls(self) -> int:
        return sum(p.paid_calls for p in self.partitions.values())

    def metadata(self) -> dict[str, Any]:
        """What a materialization shows: top-level numbers to chart, and the per-partition table."""
        budget = {} if self.budget.limit_micros is None else {"budget_usd": to_usd(self.budget.limit_micros)}
        return {
            "cost_spent_usd": to_usd(self.budget.spent_micros),
            "cost_reserved_usd": to_usd(self.budget.reserved_micros),
            **budget,
            "paid_calls": self.paid_calls,
            "reused_calls": self.reused_calls,
            "cost_by_partition": {
                name: {
                    "spent_usd": to_usd(p.spent_micros),
                    "reserved_usd": to_usd(p.reserved_micros),
                    "paid_calls": p.paid_calls,
                    "reused_calls": p.reused_calls,
                }
                for name, p in sorted(self.partitions.items())
            },
        }


def usd_to_micros(usd: float | None) -> int | None:
    return None if usd is None else round(usd * MICROS_PER_USD)


# The money path's hot statements, built with bound parameters; on Postgres each is one
# statement, compiled once, so a call pays for its round trip and its commit, not for building SQL.


def _estimate() -> sa.BindParameter:
    import sqlalchemy as sa

    return sa.bindparam("estimate", type_=sa.BigInteger)


def _now() -> sa.BindParameter:
    import sqlalchemy as sa

    return sa.bindparam("now", type_=sa.DateTime(timezone=True))


_CHARGE_FIELDS = [*ChargeRequest.model_fields, "status", "estimate_micros", "created_at"]


def _take_budget() -> sa.Update:
    """Add an estimate to what a project has reserved, if spent + reserved stays within its limit."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import budgets

    return (
        budgets.update()
        .where(
            budgets.c.project_id == sa.bindparam("project"),
            sa.or_(budgets.c.limit_micros.is_(None), budgets.c.spent_micros + budgets.c.reserved_micros + _estimate() <= budgets.c.limit_micros),
        )
        .values(reserved_micros=budgets.c.reserved_micros + _estimate(), updated_at=_now())
        .returning(budgets.c.project_id)
    )


def _reserve_in_one() -> sa.Insert:
    """The budget taken and the charge recorded, or neither: the charge row is selected from the
    taken budget row."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import charges

    taken = _take_budget().cte("take")
    fields = sa.select(*(sa.bindparam(f"new_{name}", type_=charges.c[name].type) for name in _CHARGE_FIELDS))
    return charges.insert().from_select(_CHARGE_FIELDS, fields.select_from(taken)).returning(charges.c.id)


def _close() -> sa.Update:
    """A reserved charge moved to its outcome; a charge closed already is left alone."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import charges

    return (
        charges.update()
        .where(charges.c.id == sa.bindparam("charge_id"), charges.c.status == ChargeStatus.RESERVED)
        .values(
            status=sa.bindparam("outcome"),
            actual_micros=sa.func.coalesce(sa.bindparam("actual", type_=sa.BigInteger), charges.c.estimate_micros),
            settled_at=_now(),
        )
        .returning(charges.c.project_id, charges.c.estimate_micros, charges.c.actual_micros)
    )


def _book(closed: Any) -> sa.Update:
    """The budget follows a closed charge: its estimate leaves reserved, its actual cost (unless
    released) joins spent. `closed` is the closing statement's row, or its columns in one statement."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import budgets

    spent = sa.case((sa.bindparam("spends", type_=sa.Boolean), closed.actual_micros), else_=0)
    return (
        budgets.update()
        .where(budgets.c.project_id == closed.project_id)
        .values(reserved_micros=budgets.c.reserved_micros - closed.estimate_micros, spent_micros=budgets.c.spent_micros + spent, updated_at=_now())
    )


def _keep_answer(dialect: str) -> sa.Insert:
    """A stored answer under its request key; the first answer stays."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import paid_requests

    values = {column.name: sa.bindparam(f"answer_{column.name}", type_=column.type) for column in paid_requests.columns}
    return upsert(dialect)(paid_requests).values(values).on_conflict_do_nothing(index_elements=["request_key"])


def _forget_operation_of_charge(_dialect: str) -> sa.Delete:
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import paid_operations

    return paid_operations.delete().where(paid_operations.c.charge_id == sa.bindparam("charge_id"))


def _forget_operation_of_request(_dialect: str) -> sa.Delete:
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import paid_operations

    return paid_operations.delete().where(paid_operations.c.request_key == sa.bindparam("request_key"))


_AlsoStatement = Callable[[str], "sa.Executable"]


@functools.cache
def _postgres_compiled(build: Callable[..., sa.Executable], *args: Any) -> sa.Compiled:
    from sqlalchemy.dialects import postgresql

    return build(*args).compile(dialect=postgresql.dialect())


def _close_in_one(also: tuple[_AlsoStatement, ...]) -> sa.Update:
    """Close, book and `also` as one Postgres statement: each data-modifying WITH clause runs
    once, whether or not anything reads it."""
    closed = _close().cte("closed")
    statement = _book(closed.c)
    for number, extra in enumerate(also):
        statement = statement.add_cte(extra("postgresql").cte(f"also_{number}"))
    return statement


class PaidCalls(ConfigurableResource):
    """Budgets, charges, stored answers and operations of paid model calls (see the module doc)."""

    database_url: str = Field(description="SQLAlchemy URL: the attempt ledger's database.")
    storage_url: str = Field(description="Where paid answers' files are kept: the blob store's URL.")
    default_budget_usd: float | None = Field(
        default=None, ge=0, description="A new project's budget when its brief names none; None = unlimited."
    )
    pricing: str = Field(default="", description="Overrides of the pricing table: JSON, or a JSON/YAML file path.")

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.database_url)

    def store(self) -> BlobStore:
        return BlobStoreResource(url=self.storage_url).open()

    def pricing_table(self) -> PricingTable:
        return load_pricing(self.pricing)

    @contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as connection:
            yield connection

    # -- budgets ------------------------------------------------------------------------

    def open_budget(self, project_id: str, usd: float | None) -> None:
        """Give a new project its budget (the brief's, else the default); a project that has one
        keeps it, so a person's `vidpipe budget --set` is never undone by a re-run."""
        validate_project_id(project_id)
        limit = usd_to_micros(usd if usd is not None else self.default_budget_usd)
        with self._begin() as connection:
            self._ensure_budget(connection, project_id, limit)

    def set_budget(self, project_id: str, usd: float | None) -> BudgetState:
        from vidpipe_dagster.resources.tables import budgets

        validate_project_id(project_id)
        limit = usd_to_micros(usd)
        with self._begin() as connection:
            self._ensure_budget(connection, project_id, limit)
            connection.execute(
                budgets.update()
                .where(budgets.c.project_id == project_id)
                .values(limit_micros=limit, updated_at=datetime.now(UTC))
            )
            return self._budget(connection, project_id)

    def budget(self, project_id: str) -> BudgetState:
        with self._begin() as connection:
            self._ensure_budget(connection, project_id, usd_to_micros(self.default_budget_usd))
            return self._budget(connection, project_id)

    def _ensure_budget(self, connection: sa.Connection, project_id: str, limit: int | None) -> None:
        from vidpipe_dagster.resources.tables import budgets

        connection.execute(
            upsert(connection.dialect.name)(budgets)
            .values(project_id=project_id, limit_micros=limit, spent_micros=0, reserved_micros=0, updated_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["project_id"])
        )

    def _budget(self, connection: sa.Connection, project_id: str) -> BudgetState:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import budgets

        row = connection.execute(sa.select(budgets).where(budgets.c.project_id == project_id)).mappings().one()
        return BudgetState(**{key: row[key] for key in BudgetState.model_fields})

    # -- charges ------------------------------------------------------------------------

    def _postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def _in_one(self, params: dict[str, Any], build: Callable[..., sa.Executable], *args: Any) -> sa.Row | None:
        """Run a statement built and compiled once, committed on its own: no BEGIN or COMMIT round
        trips, and the commit as durable as a transaction's."""
        compiled = _postgres_compiled(build, *args)
        with autocommit_engine_for(self.database_url).connect() as connection:
            result = connection.exec_driver_sql(str(compiled), {**compiled.params, **params})
            return result.first() if result.returns_rows else None

    def reserve(self, request: ChargeRequest, estimate_micros: int) -> int:
        """Reserve `estimate_micros` of the project's budget for one call; the charge id, or
        `BudgetExceeded` when the call would take spent + reserved past the limit."""
        from vidpipe_dagster.resources.tables import charges

        now = datetime.now(UTC)
        charge = {**request.model_dump(), "status": ChargeStatus.RESERVED.value, "estimate_micros": estimate_micros, "created_at": now}
        params = {"project": request.project_id, "estimate": estimate_micros, "now": now}
        if self._postgres():
            row = self._in_one({**params, **{f"new_{name}": value for name, value in charge.items()}}, _reserve_in_one)
            if row is not None:
                return row.id
        # SQLite, and on Postgres the project's first call or a refusal: one transaction.
        with self._begin() as connection:
            taken = connection.execute(_take_budget(), params).one_or_none()
            if taken is None:
                # Refused, or the project's first call: it gets its default budget, and one more try.
                self._ensure_budget(connection, request.project_id, usd_to_micros(self.default_budget_usd))
                taken = connection.execute(_take_budget(), params).one_or_none()
            if taken is None:
                state = self._budget(connection, request.project_id)
                raise BudgetExceeded(
                    f"project {request.project_id!r}: {request.model} ({request.method} for {request.asset}[{request.partition}]) "
                    f"would cost up to {format_usd(estimate_micros)}, over the budget: {state.describe()}. "
                    f"Raise it with `vidpipe budget {request.project_id} --set USD`, then `vidpipe resume {request.project_id}`"
                )
            return connection.execute(charges.insert().values(**charge).returning(charges.c.id)).scalar_one()

    def _close_charge(
        self, charge_id: int, status: ChargeStatus, actual_micros: int | None, *also: _AlsoStatement, **params: Any
    ) -> None:
        """Move a reserved charge to its outcome and the budget with it, atomically with `also`
        (the statements that keep or forget the call's answer and operation, given `params`)."""
        params = {
            **params, "charge_id": charge_id, "outcome": status.value, "actual": actual_micros,
            "spends": status is not ChargeStatus.RELEASED, "now": datetime.now(UTC),
        }
        if self._postgres():
            self._in_one(params, _close_in_one, also)
            return
        with self._begin() as connection:
            for extra in also:
                connection.execute(extra(connection.dialect.name), params)
            row = connection.execute(_close(), params).one_or_none()
            if row is not None:
                connection.execute(_book(row), params)

    def settle(self, charge_id: int, actual_micros: int) -> None:
        self._close_charge(charge_id, ChargeStatus.SETTLED, actual_micros)

    def release(self, charge_id: int) -> None:
        """The call failed: its reservation goes back to the budget; nothing is spent."""
        self._close_charge(charge_id, ChargeStatus.RELEASED, 0, _forget_operation_of_charge)

    def claim(self, charge_id: int, from_run: str | None, to_run: str | None) -> bool:
        """Take over a reserved charge left by a worker that died mid-call; of two takers, one wins."""
        from vidpipe_dagster.resources.tables import charges

        with self._begin() as connection:
            claimed = connection.execute(
                charges.update()
                .where(
                    charges.c.id == charge_id,
                    charges.c.status == ChargeStatus.RESERVED,
                    charges.c.run_id.is_not_distinct_from(from_run),
                )
                .values(run_id=to_run)
            )
            return claimed.rowcount == 1

    def orphaned_charge(self, project_id: str, request_key: str) -> tuple[int, str | None] | None:
        """A charge of this project for this request still reserved with no operation on record:
        its worker died inside the call (or was stopped). The project lease lets one run at a
        time work on a project, so no live worker holds it. (id, run) of the oldest, or None."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import charges, paid_operations

        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(charges.c.id, charges.c.run_id)
                .where(
                    charges.c.project_id == project_id,
                    charges.c.request_key == request_key,
                    charges.c.status == ChargeStatus.RESERVED,
                    ~charges.c.id.in_(sa.select(paid_operations.c.charge_id)),
                )
                .order_by(charges.c.id)
                .limit(1)
            ).one_or_none()
        return None if row is None else (row.id, row.run_id)

    def complete(self, stored: StoredRequest, charge_id: int) -> None:
        """Atomically: keep the answer under its key (first answer wins), settle the charge at its
        actual cost, and forget the operation that produced it."""
        answer = {
            **stored.model_dump(exclude={"objects", "created_at"}),
            "objects": json.dumps(stored.objects, sort_keys=True),
            "created_at": datetime.now(UTC),
        }
        self._close_charge(
            charge_id, ChargeStatus.SETTLED, stored.cost_micros, _keep_answer, _forget_operation_of_request,
            request_key=stored.request_key, **{f"answer_{name}": value for name, value in answer.items()},
        )

    def record_reuse(self, request: ChargeRequest) -> None:
        from vidpipe_dagster.resources.tables import charges

        now = datetime.now(UTC)
        with self._begin() as connection:
            connection.execute(
                charges.insert().values(
                    **request.model_dump(), status=ChargeStatus.REUSED, estimate_micros=0, actual_micros=0,
                    created_at=now, settled_at=now,
                )
            )

    def stored_result(self, request_key: str) -> StoredRequest | None:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import paid_requests

        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(paid_requests).where(paid_requests.c.request_key == request_key)
            ).mappings().one_or_none()
        if row is None:
            return None
        return StoredRequest(**{**row, "objects": json.loads(row["objects"])})

    # -- long-running operations --------------------------------------------------------

    def record_operation(self, request_key: str, operation: str, charge_id: int, run_id: str | None) -> None:
        """Written before polling starts; a restart with a sanitized prompt replaces it."""
        from vidpipe_dagster.resources.tables import paid_operations

        with self._begin() as connection:
            insert = upsert(connection.dialect.name)(paid_operations)
            connection.execute(
                insert.values(
                    request_key=request_key, operation=operation, charge_id=charge_id, run_id=run_id,
                    started_at=database_now(connection.dialect.name),
                ).on_conflict_do_update(
                    index_elements=["request_key"],
                    set_={"operation": insert.excluded.operation, "charge_id": insert.excluded.charge_id,
                          "run_id": insert.excluded.run_id, "started_at": insert.excluded.started_at},
                )
            )

    def pending_operation(self, request_key: str) -> PendingOperation | None:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import charges, paid_operations

        with self._begin() as connection:
            # The run named is the charge's holder: whoever last took the operation over.
            row = connection.execute(
                sa.select(
                    paid_operations.c.request_key, paid_operations.c.operation, paid_operations.c.charge_id, charges.c.run_id,
                    (database_now(connection.dialect.name) - paid_operations.c.started_at).label("age_s"),
                )
                .join(charges, charges.c.id == paid_operations.c.charge_id)
                .where(paid_operations.c.request_key == request_key)
            ).mappings().one_or_none()
        return None if row is None else PendingOperation(**{key: row[key] for key in PendingOperation.model_fields})

    def abandon(self, operation: PendingOperation) -> None:
        """An operation older than its timeout: not resumed, and counted as spent at its estimate
        (it may well have been billed)."""
        self._close_charge(
            operation.charge_id, ChargeStatus.ABANDONED, None, _forget_operation_of_request, request_key=operation.request_key
        )

    # -- reading ------------------------------------------------------------------------

    def totals(self, project_id: str) -> CostTotals:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import charges

        with self._begin() as connection:
            self._ensure_budget(connection, project_id, usd_to_micros(self.default_budget_usd))
            budget = self._budget(connection, project_id)
            rows = connection.execute(
                sa.select(
                    charges.c.partition,
                    charges.c.status,
                    sa.func.count().label("calls"),
                    sa.func.coalesce(sa.func.sum(charges.c.estimate_micros), 0).label("estimated"),
                    sa.func.coalesce(sa.func.sum(charges.c.actual_micros), 0).label("actual"),
                )
                .where(charges.c.project_id == project_id)
                .group_by(charges.c.partition, charges.c.status)
            ).all()
        partitions: dict[str, PartitionCosts] = {}
        for row in rows:
            costs = partitions.setdefault(row.partition, PartitionCosts(partition=row.partition))
            if row.status in (ChargeStatus.SETTLED, ChargeStatus.ABANDONED):
                costs.spent_micros += int(row.actual)
                costs.paid_calls += row.calls
            elif row.status == ChargeStatus.RESERVED:
                costs.reserved_micros += int(row.estimated)
            elif row.status == ChargeStatus.REUSED:
                costs.reused_calls += row.calls
        return CostTotals(budget=budget, partitions=partitions)
