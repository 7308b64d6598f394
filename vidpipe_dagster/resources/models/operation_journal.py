"""Where a model backend reports the long-running operation it started, and learns of one to resume.

The paid-call path (`vidpipe_dagster.paid_path`) sets a journal for the duration of each call; a
backend asks it before starting an operation (`take_resumable`: the name of one a crashed worker
started for the very same request) and tells it the name of each one it starts (`started`), before
it polls. Outside the paid path the journal remembers nothing.
"""

from __future__ import annotations

import contextvars


class OperationJournal:
    def take_resumable(self) -> str | None:
        """The operation to poll instead of starting one, once: a retry after it must start anew."""
        return None

    def started(self, operation: str) -> None:
        """An operation was started and is about to be polled."""


_current: contextvars.ContextVar[OperationJournal] = contextvars.ContextVar("vidpipe_operation_journal", default=OperationJournal())


def operation_journal() -> OperationJournal:
    return _current.get()


def set_operation_journal(journal: OperationJournal) -> contextvars.Token:
    return _current.set(journal)


def reset_operation_journal(token: contextvars.Token) -> None:
    _current.reset(token)
