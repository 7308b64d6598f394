"""Project leases with fencing tokens: one holder per project, across every process and machine.

A lease is one row per project in vidpipe's database. It is taken by one atomic upsert that
succeeds only when the row is free, expired, or already this holder's; a heartbeat renews it while
the holder works. The token grows every time the lease changes hands and never otherwise, so a
holder that was taken over (it crashed, or stalled past its TTL) learns it at its next renewal or
commit: `StaleLease`. Expiry is judged by the database's clock only, never by a worker's.

A run whose worker dies may never report its own end, and it never returns its model pool slots:
so whoever finds a lease expired unreleased (the run taking it over, or the lease reaper) marks
the dead holder's run failed if it is not yet, and frees its slots.

In a run, the lease is held from resource setup to teardown with the run id as holder: Definitions
use the in-process executor, so one run is one process and one holder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import ConfigurableResource, DagsterInstance, Failure, InitResourceContext
from pydantic import Field, PrivateAttr

from vidpipe_dagster.log_context import get_logger, project_context
from vidpipe_dagster.partitions import PROJECT_TAG, project_of_run
from vidpipe_dagster.resources.database import database_now, engine_for, upsert

if TYPE_CHECKING:
    import sqlalchemy as sa

log = get_logger(__name__)


class LeaseUnavailable(RuntimeError):
    pass


class StaleLease(Failure):
    """This holder was taken over: what it would commit now is refused. A retry cannot help (the
    lease is another's), so the step fails at once, whatever its retry policy."""

    def __init__(self, message: str):
        super().__init__(description=message, allow_retries=False)


@dataclass(frozen=True)
class LeaseRecord:
    """A lease row as stored: who holds it, with which token, until when."""

    project_id: str
    holder: str
    token: int
    expires_at: float

    def describe(self) -> str:
        if not self.holder:
            return f"free (last token {self.token})"
        until = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="milliseconds")
        return f"held by {self.holder} (token {self.token}) until {until}"


@dataclass(eq=False)
class LeaseHold:
    """What an acquirer holds: the lease of one project, under one token."""

    lease: ProjectLease
    project_id: str
    holder: str
    token: int
    # The holder whose expired lease this one took over without its release: it died or stalled.
    took_over_from: str | None = None
    # This process's monotonic clock just before the last renewal that succeeded (or the acquire):
    # the database's expiry is at least a TTL after it.
    renewed_at: float = field(default_factory=time.monotonic)
    # Why the lease is lost, once a renewal found it taken over.
    lost: str | None = None

    def check(self) -> None:
        """The fence, in the database: `StaleLease` unless this is still the holder; renews the lease when it is."""
        self.lease.renew(self)

    def assert_held(self) -> None:
        """`StaleLease` when the heartbeat found the lease taken over or has not renewed it for a
        TTL; no database call. For the checks before work (a load, an upload, a model call):
        publishing still goes through the fence (`check` or `fenced`)."""
        if self.lost is not None:
            raise StaleLease(self.lost)
        silent = time.monotonic() - self.renewed_at
        if silent >= self.lease.ttl_seconds:
            raise StaleLease(
                f"the lease of project {self.project_id!r} (token {self.token}, {self.holder}) was not renewed "
                f"for {silent:.0f} s, past its {self.lease.ttl_seconds} s TTL: another worker may hold it; this worker must not commit"
            )

    @contextmanager
    def fenced(self) -> Iterator[sa.Connection]:
        """A transaction that commits only while this is still the holder: the renewal locks the
        lease row until it ends, so no takeover interleaves with what the caller writes through it,
        and a stale holder's writes are rolled back with `StaleLease`."""
        with self.lease.begin() as connection:
            self.lease.renew(self, connection)
            yield connection


def _unchanged(lease: LeaseHold | LeaseRecord) -> sa.ColumnElement[bool]:
    """The lease row, as long as it still has this holder and token."""
    import sqlalchemy as sa

    from vidpipe_dagster.resources.tables import leases

    return sa.and_(leases.c.project_id == lease.project_id, leases.c.holder == lease.holder, leases.c.token == lease.token)


class ProjectLease(ConfigurableResource):
    """Serializes work on a project across every run, worker and deployment sharing the database."""

    database_url: str = Field(description="SQLAlchemy URL; the attempt ledger's database (fenced commits span both).")
    ttl_seconds: int = Field(default=60, description="A holder that stops renewing loses the lease this long after its last renewal.")
    heartbeat_seconds: float | None = Field(default=None, description="Renewal interval; default a third of the TTL.")
    acquire_timeout_seconds: int = Field(default=900, description="How long a run waits for another holder before failing.")

    _held: LeaseHold | None = PrivateAttr(default=None)

    @property
    def engine(self) -> sa.Engine:
        return engine_for(self.database_url)

    def try_acquire(self, project_id: str, holder: str) -> LeaseHold | None:
        """One attempt, decided by one atomic upsert: the hold when the lease is now this
        holder's (free, expired, or its own already), else None."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import leases

        started = time.monotonic()
        with self.begin() as connection:
            # Locked until the upsert below decides, so `previous` is exactly what it replaces.
            previous = connection.execute(
                sa.select(leases.c.holder).where(leases.c.project_id == project_id).with_for_update()
            ).scalar_one_or_none()
            now = database_now(connection.dialect.name)
            insert = upsert(connection.dialect.name)(leases)
            statement = (
                insert.values(project_id=project_id, holder=holder, token=1, expires_at=now + self.ttl_seconds)
                .on_conflict_do_update(
                    index_elements=["project_id"],
                    set_={
                        "holder": insert.excluded.holder,
                        # Re-entry keeps the token; a change of hands increments it.
                        "token": sa.case((leases.c.holder == insert.excluded.holder, leases.c.token), else_=leases.c.token + 1),
                        "expires_at": insert.excluded.expires_at,
                    },
                    where=sa.or_(leases.c.expires_at <= now, leases.c.holder == insert.excluded.holder),
                )
                .returning(leases.c.token)
            )
            token = connection.execute(statement).scalar_one_or_none()
        if token is None:
            return None
        return LeaseHold(
            self, project_id, holder, token, took_over_from=previous if previous not in ("", holder) else None, renewed_at=started
        )

    def acquire(self, project_id: str, holder: str, progress: logging.Logger = log) -> LeaseHold:
        """The project's lease, waiting up to `acquire_timeout_seconds` for the current holder."""
        deadline = time.monotonic() + self.acquire_timeout_seconds
        waiting = False
        while True:
            hold = self.try_acquire(project_id, holder)
            if hold is not None:
                return hold
            current = self.current(project_id)
            if time.monotonic() >= deadline:
                raise LeaseUnavailable(
                    f"project {project_id!r} is busy: its lease is "
                    f"{current.describe() if current else 'being handed over'}; "
                    f"gave up after {self.acquire_timeout_seconds} s. A holder that died loses it when it expires."
                )
            if not waiting and current is not None:
                progress.info(f"waiting for the lease of project {project_id!r}: {current.describe()}")
                waiting = True
            time.sleep(min(1.0, self.ttl_seconds / 10))

    def renew(self, hold: LeaseHold, connection: sa.Connection | None = None) -> None:
        """Extend the lease by a TTL from now; `StaleLease` when another holder has taken it over.
        In the caller's transaction the renewal stands only if that commits, so only a renewal of
        our own moves `renewed_at`."""
        from vidpipe_dagster.resources.tables import leases

        started = time.monotonic()
        with self._transaction(connection) as transaction:
            statement = (
                leases.update()
                .where(_unchanged(hold))
                .values(expires_at=database_now(transaction.dialect.name) + self.ttl_seconds)
            )
            renewed = transaction.execute(statement).rowcount == 1
            current = None if renewed else self.current(hold.project_id, transaction)
        if renewed:
            if connection is None:
                hold.renewed_at = max(hold.renewed_at, started)
            return
        hold.lost = (
            f"the lease of project {hold.project_id!r} (token {hold.token}, {hold.holder}) was taken over: "
            f"it is now {current.describe() if current else 'gone'}; this worker must not commit"
        )
        raise StaleLease(hold.lost)

    def release(self, hold: LeaseHold) -> None:
        """Let the next holder in at once; nothing to do when the lease was taken over already.

        The row stays, free, so that the next holder's token continues from this one."""
        from vidpipe_dagster.resources.tables import leases

        with self.begin() as connection:
            connection.execute(
                leases.update()
                .where(_unchanged(hold))
                .values(holder="", expires_at=database_now(connection.dialect.name))
            )

    def current(self, project_id: str, connection: sa.Connection | None = None) -> LeaseRecord | None:
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import leases

        with self._transaction(connection) as connection:
            row = connection.execute(sa.select(leases).where(leases.c.project_id == project_id)).mappings().one_or_none()
        return LeaseRecord(**row) if row else None

    def expired(self) -> list[LeaseRecord]:
        """Leases whose holder stopped renewing them and never released them: it died or stalled."""
        import sqlalchemy as sa

        from vidpipe_dagster.resources.tables import leases

        with self.begin() as connection:
            query = sa.select(leases).where(leases.c.holder != "", leases.c.expires_at < database_now(connection.dialect.name))
            return [LeaseRecord(**row) for row in connection.execute(query).mappings()]

    def release_expired(self, record: LeaseRecord) -> None:
        """Release a dead holder's lease on its behalf, unless it renewed it meanwhile."""
        from vidpipe_dagster.resources.tables import leases

        with self.begin() as connection:
            connection.execute(
                leases.update()
                .where(_unchanged(record), leases.c.expires_at < database_now(connection.dialect.name))
                .values(holder="")
            )

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction on the lease table."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # A process frozen inside this transaction would keep the lease row locked, and
                # every takeover waiting, for as long as it stays frozen: Postgres ends it instead.
                connection.exec_driver_sql(f"SET LOCAL idle_in_transaction_session_timeout = {self.ttl_seconds * 1000}")
            yield connection

    @contextmanager
    def _transaction(self, connection: sa.Connection | None) -> Iterator[sa.Connection]:
        """The caller's transaction when it passes one, else a short one of our own."""
        if connection is not None:
            yield connection
            return
        with self.begin() as own_connection:
            yield own_connection

    @contextmanager
    def holding(self, project_id: str, holder: str, progress: logging.Logger = log) -> Iterator[LeaseHold]:
        """Acquire, renew on a heartbeat thread while the block runs, release at the end."""
        import sqlalchemy as sa

        hold = self.acquire(project_id, holder, progress)
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(hold, stop, progress), name=f"lease-{project_id}", daemon=True)
        heartbeat.start()
        try:
            yield hold
        finally:
            stop.set()
            heartbeat.join()
            try:
                self.release(hold)
            except sa.exc.DBAPIError as exc:
                # Raising here would fail a run whose work is over, and have it retried for
                # nothing; unreleased, the lease lets the next holder in when it expires.
                log.warning("could not release the lease of project %r (it expires by itself): %s", project_id, exc)

    def _heartbeat(self, hold: LeaseHold, stop: threading.Event, progress: logging.Logger) -> None:
        """Renews the lease. Its trouble goes to `progress`, in a run the run's own log (the UI's
        event log), and names the project: this thread runs outside any step's log capture."""
        import sqlalchemy as sa

        interval = self.heartbeat_seconds or self.ttl_seconds / 3
        with project_context(hold.project_id):
            while not stop.wait(interval):
                try:
                    hold.check()
                except StaleLease as exc:
                    # Nothing left to renew; the holder's next commit is refused the same way.
                    progress.error(str(exc))  # names the project
                    return
                except sa.exc.DBAPIError as exc:
                    # A missed beat is not fatal: the next one may succeed before the TTL runs out.
                    progress.warning(f"could not renew the lease of project {hold.project_id!r}: {exc}")

    @contextmanager
    def yield_for_execution(self, context: InitResourceContext) -> Iterator[ProjectLease]:
        """In a run: hold its project's lease for the whole run. Outside one: a plain client."""
        run = context.run
        if run is None:
            yield self
            return
        project_id = project_of_run(run.tags)
        if project_id is None:
            raise LeaseUnavailable(
                f"run {run.run_id} names no project: vidpipe runs are for one project partition "
                f"(tag {PROJECT_TAG} or a partition key)"
            )
        with self._run_hold(project_id, run.run_id, context) as hold:
            self._held = hold
            yield self

    @contextmanager
    def _run_hold(self, project_id: str, run_id: str, context: InitResourceContext) -> Iterator[LeaseHold]:
        """One hold (one heartbeat, one log line) per run, shared by every copy of this resource the
        run sets up: the `lease` resource and the IO manager's own. The last user releases it."""
        key = (self.database_url, run_id)
        with _RUN_HOLDS_LOCK:
            entry = _RUN_HOLDS.setdefault(key, _SharedHold())
        with entry.lock:
            if entry.users == 0:
                started = time.monotonic()
                entry.hold = entry.stack.enter_context(self.holding(project_id, run_id, progress=context.log))
                context.log.info(
                    f"holding the lease of project {project_id!r}, token {entry.hold.token} "
                    f"(acquired in {time.monotonic() - started:.2f} s)"
                )
                if entry.hold.took_over_from is not None:
                    retire_dead_run(
                        context.instance, entry.hold.took_over_from,
                        f"its worker stopped renewing the lease of project {project_id!r}; run {run_id} took the project over",
                    )
                    context.log.warning(f"took project {project_id!r} over from {entry.hold.took_over_from}, which stopped renewing its lease")
            entry.users += 1
        try:
            yield entry.hold
        finally:
            with entry.lock:
                entry.users -= 1
                if entry.users == 0:
                    with _RUN_HOLDS_LOCK:
                        _RUN_HOLDS.pop(key, None)
                    entry.stack.close()

    @property
    def held(self) -> LeaseHold:
        """This run's hold on its project's lease."""
        if self._held is None:
            raise StaleLease("no project lease is held here: project state is committed inside a run only")
        return self._held


@dataclass(eq=False)
class _SharedHold:
    lock: threading.Lock = field(default_factory=threading.Lock)
    stack: ExitStack = field(default_factory=ExitStack)
    hold: LeaseHold | None = None
    users: int = 0


# The holds of the runs executing in this process, by (database, run id): a registry of open
# handles, like a connection pool, not pipeline state.
_RUN_HOLDS: dict[tuple[str, str], _SharedHold] = {}
_RUN_HOLDS_LOCK = threading.Lock()


def retire_dead_run(instance: DagsterInstance, run_id: str, reason: str) -> None:
    """For a run whose worker died holding a project lease: mark the run failed unless something
    did already (its code server may have), and free its model pool slots now rather than
    `free_slots_after_run_end_seconds` after its end. A holder that is no run is left alone."""
    run = instance.get_run_by_id(run_id)
    if run is None:
        return
    if not run.is_finished:
        instance.report_run_failed(run, reason)
    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
