"""The one path every model call takes: priced, budgeted, never repeated.

An asset binds its model resources to its step once (`paid_models`); each method call of the
bound model then
  1. computes the request key (`request_keys`): model, the resource's settings, every argument,
     the sha256 of every input file;
  2. returns the stored answer of an identical earlier request instead of calling, unless the
     step forces a fresh call (the reused answer is recorded as a charge of zero, marked reused,
     naming the call that paid for it and the attempt that first stored it; the attempt that
     stores it again copies its files inside the blob store);
  3. resumes a long-running operation a crashed worker started for the same key (its charge is
     taken over), or abandons one older than its timeout (counted as spent);
  4. otherwise reserves the estimated price against the project's budget (`BudgetExceeded` stops
     the project before anything is spent);
  5. calls the model with an operation journal in context, so an operation's name is in the
     database before it is polled;
  6. stores the answer under its key and settles the charge at the actual price, in one
     transaction; a failed call releases its reservation. The answer's files are uploaded once,
     under the key; the step's attempt copies them from there.
Offline backends take the same path at a price of zero.
"""

from __future__ import annotations

import functools
import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource
from pydantic import TypeAdapter

from vidpipe_dagster.artifacts import split_partition
from vidpipe_dagster.domain import CallOrigin, JudgeVerdict, ModelCall
from vidpipe_dagster.log_context import get_logger
from vidpipe_dagster.model_log import logged_call
from vidpipe_dagster.pricing import PricingTable, actual_quote, estimate_quote, price_micros, to_usd
from vidpipe_dagster.request_keys import canonical, request_key
from vidpipe_dagster.resources.controls import ProjectControls
from vidpipe_dagster.resources.ledger import AttemptLedger
from vidpipe_dagster.resources.models.operation_journal import (
    OperationJournal,
    reset_operation_journal,
    set_operation_journal,
)
from vidpipe_dagster.resources.models.protocols import ImageModel, QualityJudge, TextModel, VideoModel
from vidpipe_dagster.resources.paid_calls import BudgetExceeded, ChargeRequest, PaidCalls, StoredRequest
from vidpipe_dagster.resources.storage import file_sha256, remember_origin

log = get_logger(__name__)

PROTOCOL_METHODS: dict[str, Callable[..., Any]] = {
    name: getattr(protocol, name)
    for protocol in (TextModel, ImageModel, VideoModel, QualityJudge)
    for name in protocol.__dict__
    if not name.startswith("_") and callable(getattr(protocol, name))
}
# The resource field naming the model of a method, where it is not `model`.
_MODEL_FIELDS = {"reference_image": "reference_model", "keyframe": "keyframe_model"}
# Resource settings that say how long to wait for an answer, not what to ask: not in the key.
_WAITING_FIELDS = frozenset({"poll_interval_s", "operation_timeout_s"})
OUTPUT_ARGUMENT = "out"
# Arguments measured from an input file the key already covers: not in the key, so a new measurer
# version never makes a stored answer look like a new request.
_DERIVED_ARGUMENTS = frozenset({"measures"})


@dataclass(frozen=True)
class CallIdentity:
    """Which model a method call reaches, and the resource settings that shape its answer."""

    model: str
    settings: dict[str, Any]
    audio: bool
    resolution: str | None
    operation_timeout_s: float | None


def call_identity(resource: Any, method: str) -> CallIdentity:
    """A resource naming its model (the `vertex` ones) is billed at that model's rates; one that
    names none is an offline backend, `local/<class>`, priced at zero. Nested resources (the
    connection settings) and waiting settings are left out of the key: where a request is sent
    and how patiently its answer is awaited do not change the answer."""
    model = getattr(resource, _MODEL_FIELDS.get(method, "model"), None)
    fields = type(resource).model_fields if isinstance(resource, ConfigurableResource) else {}
    settings = {
        name: getattr(resource, name)
        for name in fields
        if name not in _WAITING_FIELDS and not isinstance(getattr(resource, name), ConfigurableResource)
    }
    return CallIdentity(
        model=model if isinstance(model, str) and model else f"local/{type(resource).__name__}",
        settings=settings,
        audio=bool(getattr(resource, "generate_audio", False)),
        resolution=getattr(resource, "resolution", None),
        operation_timeout_s=getattr(resource, "operation_timeout_s", None),
    )


def model_call_of(result: Any) -> ModelCall:
    """The ModelCall inside any protocol method's answer."""
    if isinstance(result, ModelCall):
        return result
    if isinstance(result, JudgeVerdict):
        return result.call
    if isinstance(result, tuple) and result and isinstance(result[-1], ModelCall):
        return result[-1]
    raise TypeError(f"a model answered {type(result).__name__}, which carries no ModelCall")


def with_model_call(result: Any, call: ModelCall) -> Any:
    if isinstance(result, ModelCall):
        return call
    if isinstance(result, JudgeVerdict):
        return result.model_copy(update={"call": call})
    return (*result[:-1], call)


@functools.cache
def _result_adapter(method: str) -> TypeAdapter:
    return TypeAdapter(typing.get_type_hints(PROTOCOL_METHODS[method])["return"])


class _DatabaseJournal(OperationJournal):
    def __init__(self, calls: PaidCalls, key: str, charge_id: int, run_id: str | None, resumable: str | None):
        self.calls, self.key, self.charge_id, self.run_id, self.resumable = calls, key, charge_id, run_id, resumable

    def take_resumable(self) -> str | None:
        name, self.resumable = self.resumable, None
        return name

    def started(self, operation: str) -> None:
        self.calls.record_operation(self.key, operation, self.charge_id, self.run_id)


@dataclass
class PaidStep:
    """The paid calls of one asset step: who pays, and what the step has spent so far."""

    calls: PaidCalls
    project_id: str
    partition: str
    asset: str
    run_id: str | None
    force: bool = False
    report: Callable[[dict[str, Any]], None] = lambda _metadata: None
    spent_micros: int = 0
    paid_calls: int = 0
    reused_calls: int = 0
    reused_attempts: list[str] = field(default_factory=list)
    _pricing: PricingTable | None = field(default=None, repr=False)

    @property
    def pricing(self) -> PricingTable:
        if self._pricing is None:
            self._pricing = self.calls.pricing_table()
        return self._pricing

    def bind(self, resource: Any) -> PaidModel:
        return PaidModel(self, resource)

    def call(self, resource: Any, method: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        bound = inspect.signature(PROTOCOL_METHODS[method]).bind(None, *args, **kwargs)
        arguments = {name: value for name, value in bound.arguments.items() if name != "self" and name not in _DERIVED_ARGUMENTS}
        out = arguments.pop(OUTPUT_ARGUMENT, None)
        identity = call_identity(resource, method)
        described = canonical(arguments)
        key = request_key(model=identity.model, method=method, settings=identity.settings, arguments=described)
        request = ChargeRequest(
            project_id=self.project_id, partition=self.partition, asset=self.asset, request_key=key,
            model=identity.model, method=method, run_id=self.run_id,
        )
        if not self.force and (stored := self.calls.stored_result(key)) is not None:
            return self._reuse(stored, request, out)
        estimate = estimate_quote(
            self.pricing, model=identity.model, method=method, prompt_chars=len(json.dumps(described)),
            video_seconds=float(getattr(arguments.get("scene"), "duration_s", 0) or 0),
            audio=identity.audio, resolution=identity.resolution,
        )
        charge_id, resumable = self._charge(request, price_micros(self.pricing, estimate), identity)
        token = set_operation_journal(_DatabaseJournal(self.calls, key, charge_id, self.run_id, resumable))
        try:
            result = logged_call(method, self.partition, lambda: getattr(resource, method)(*args, **kwargs))
        except Exception:
            self.calls.release(charge_id)
            raise
        # An interrupt (a terminated run) leaves the charge reserved and the operation recorded:
        # the operation may still finish and be billed, so the next worker resumes it.
        finally:
            reset_operation_journal(token)
        cost = price_micros(self.pricing, actual_quote(estimate, model_call_of(result).usage))
        call = model_call_of(result).model_copy(update={"cost_usd": to_usd(cost), "request_key": key})
        result = with_model_call(result, call)
        try:
            objects = {}
            if out is not None:
                name = Path(out).name
                kept = self.calls.store().put_file(f"paid-requests/{key[:2]}/{key}/charge-{charge_id}/{name}", Path(out))
                remember_origin(Path(out), kept.key, kept.sha256)  # the step's attempt copies it, not uploads it again
                objects[name] = kept.key
            answer = _result_adapter(method).dump_json(result).decode()
            self.calls.complete(StoredRequest(**request.model_dump(), result=answer, objects=objects, cost_micros=cost), charge_id)
        except Exception:
            self.calls.settle(charge_id, cost)  # paid for, whether or not the answer could be kept
            raise
        self.spent_micros += cost
        self.paid_calls += 1
        self._report()
        return result

    def _charge(self, request: ChargeRequest, estimate_micros: int, identity: CallIdentity) -> tuple[int, str | None]:
        """The charge this call runs under, and the operation to resume when a crashed worker
        left one for the same request that is still within its timeout. A reservation a dead
        worker left without an operation is taken over too, rather than reserved twice."""
        pending = self.calls.pending_operation(request.request_key)
        if pending is not None:
            timeout = identity.operation_timeout_s
            if timeout is not None and pending.age_s > timeout:
                log.warning(
                    "operation %s for %s is %.0f s old, past its %g s timeout: counted as spent, not resumed",
                    pending.operation, request.model, pending.age_s, timeout,
                )
                self.calls.abandon(pending)
            elif self.calls.claim(pending.charge_id, pending.run_id, self.run_id):
                log.info("resuming operation %s (started by %s) instead of starting a new one", pending.operation, pending.run_id)
                return pending.charge_id, pending.operation
        orphan = self.calls.orphaned_charge(self.project_id, request.request_key)
        if orphan is not None and self.calls.claim(*orphan, self.run_id):
            log.info("taking over the reservation of %s, which stopped inside the same call", orphan[1])
            return orphan[0], None
        try:
            return self.calls.reserve(request, estimate_micros), None
        except BudgetExceeded:
            # The project waits for a person: raise its budget, then `vidpipe resume`.
            ProjectControls(database_url=self.calls.database_url).set_paused(self.project_id, True)
            raise

    def _reuse(self, stored: StoredRequest, request: ChargeRequest, out: Path | None) -> Any:
        if out is not None:
            # Downloaded because the step reads the file (judges and measures it); remembering its
            # key makes the attempt that stores it a copy inside the store, not an upload.
            source = stored.objects[Path(out).name]
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            self.calls.store().get_file(source, Path(out))
            remember_origin(Path(out), source, file_sha256(Path(out))[1])
        origin = self._origin(stored)
        result = _result_adapter(request.method).validate_json(stored.result)
        call = model_call_of(result).model_copy(
            update={"cost_usd": 0.0, "reused": True, "reused_from": origin.label(), "reused_from_attempt": origin}
        )
        self.calls.record_reuse(request)
        self.reused_calls += 1
        if origin.attempt is not None:
            self.reused_attempts.append(origin.label())
        log.info("%s %s: reused the answer of %s (request %s), no call made", request.model, request.method, origin.label(), stored.request_key[:12])
        self._report()
        return with_model_call(result, call)

    def _origin(self, stored: StoredRequest) -> CallOrigin:
        """The paid call behind a stored answer, and the attempt that first stored its files."""
        ledger = AttemptLedger(database_url=self.calls.database_url)
        copies = {name: copy for name, key in stored.objects.items() if (copy := ledger.first_copy(key)) is not None}
        first = next(iter(copies.values()), None)
        return CallOrigin(
            request_key=stored.request_key,
            asset=first.asset if first else stored.asset,
            partition=first.partition if first else stored.partition,
            run_id=stored.run_id,
            attempt=first.attempt if first else None,
            source_objects=stored.objects,
            attempt_objects={name: copy.object_key for name, copy in copies.items()},
        )

    def _report(self) -> None:
        reused_from = {"reused_from_attempt": ", ".join(dict.fromkeys(self.reused_attempts))} if self.reused_attempts else {}
        self.report(
            {"cost_usd": to_usd(self.spent_micros), "paid_calls": self.paid_calls, "reused_calls": self.reused_calls, **reused_from}
        )


class PaidModel:
    """A model resource whose protocol methods go through a step's paid path; anything else is
    the resource's own."""

    def __init__(self, step: PaidStep, resource: Any):
        self._step, self._resource = step, resource

    def __getattr__(self, name: str) -> Any:
        if name in PROTOCOL_METHODS:
            return lambda *args, **kwargs: self._step.call(self._resource, name, args, kwargs)
        return getattr(self._resource, name)


def paid_models(context: AssetExecutionContext, calls: PaidCalls, *models: Any, force: bool = False) -> tuple[Any, ...]:
    """The step's model resources, bound to its paid path; `force` makes fresh calls (no reuse).
    What the step spent and reused lands in its output metadata as it goes."""
    partition = context.partition_key
    step = PaidStep(
        calls=calls,
        project_id=split_partition(partition)[0],
        partition=partition,
        asset=context.asset_key.to_user_string(),
        run_id=context.run.run_id,
        force=force,
        report=context.add_output_metadata,
    )
    return tuple(step.bind(model) for model in models)
