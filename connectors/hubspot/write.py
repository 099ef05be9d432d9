"""Writing score updates to HubSpot contacts and companies through the batch update API.

Updates are split by object type (``"company"`` updates go to companies, every other one to
contacts, as before accounts existed), each type in batches of HubSpot's maximum (100), and the
results come back one per update in the caller's order. Per-record results come from three places:

- a 207 multi-status (the SDK returns a ``...WithErrors`` model, it does not raise): the errors'
  ``context.ids`` name the records that failed; the rest succeeded;
- a 400 for the whole batch (HubSpot validates the batch as a unit, e.g. a value of the wrong
  type): the batch is split in halves until the bad records are isolated, so one bad value
  costs its own record, never its 99 neighbours;
- a failure of the call itself after retries: every record of the batch is retryable, and a
  spent quota makes this and every later batch retryable without another call.

Only the properties the config names are ever written (``WriteFields``: the same names on
companies as on contacts; or, for an update whose model has its own fields, ``ScoreUpdate.fields``,
which replaces the ``write`` map for that update), plus a contact's ``lifecyclestage`` when the
admin maps stages onto it, and then only forward (companies never: the lifecycle mapping is the
contacts'; it follows the ``stage`` value whatever property that goes to). Updates with different
properties share a batch call: HubSpot's batch update takes each input's own properties.

Before the first write of a connector instance to an object type, every ``write`` target of that
type that exists must be leadscore's or adopted, and so must every property an update's ``fields``
names, before the first write naming it (built-ins refused by name first, with the ``write`` map's
own validator): :meth:`connectors.hubspot.setup.PropertySetup.verify_owned`. A refusal raises
:class:`ConfigError` for the whole call, as for the ``write`` map, and nothing of it is written.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from importlib import import_module
from typing import Any, Iterable, Mapping, Protocol, Sequence

import structlog

from leadscore.agent.core.errors import QuotaExhausted, TransientError
from leadscore.agent.core.contract import ScoreUpdate, WriteResult, WriteStatus
from leadscore.connectors.hubspot.client import HubSpotClient, HubSpotRequestError
from leadscore.connectors.hubspot.config import HubSpotConfig
from leadscore.connectors.hubspot.pull import BATCH_READ
from leadscore.connectors.hubspot.setup import Target, model_targets
from leadscore.connectors.kit.chunking import chunks
from leadscore.connectors.kit.times import epoch_ms

BATCH_UPDATE = 100  # HubSpot's maximum inputs per batch update
REASON_LIMIT = 65_536  # HubSpot's limit on a string property value

log = structlog.get_logger("leadscore.hubspot")

#: HubSpot error categories that will not succeed on retry.
_PERMANENT = {"OBJECT_NOT_FOUND", "VALIDATION_ERROR", "PROPERTY_DOESNT_EXIST", "INVALID_OPTION", "READ_ONLY_VALUE"}
#: Errors about a property rather than a value: every record writing that property fails alike.
_PROPERTY_LEVEL = {"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"}


def property_value(name: str, value: Any) -> str:
    """HubSpot takes every property value as a string; datetimes as epoch milliseconds."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return str(epoch_ms(value))
    if name == "reason":
        return str(value)[:REASON_LIMIT]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: The ``ScoreUpdate.object_type`` of a company (an account); every other type is a contact.
COMPANY = "company"


def plural_of(update: ScoreUpdate) -> str:
    """The objects API's name of the update's record type: ``companies`` or ``contacts``."""
    return "companies" if update.object_type == COMPANY else "contacts"


class Ownership(Protocol):
    def verify_owned(self, object_type: str = "contacts", fields: Iterable[Target] = ()) -> None: ...


class ContactWriter:
    def __init__(self, client: HubSpotClient, config: HubSpotConfig, ownership: Ownership | None = None) -> None:
        self.client = client
        self.config = config
        #: Checks (once) that every write target is leadscore's or adopted; raises ConfigError.
        self.ownership = ownership
        self.mapping = config.write.mapping()
        self._lifecycle_order: list[str] | None = None
        #: Failed writes by error code, for metrics and the run summary.
        self.failures: Counter[str] = Counter()

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        if self.ownership is not None:
            for plural in sorted({plural_of(u) for u in updates}, reverse=True):  # contacts first
                own = [t for u in updates if u.fields is not None and plural_of(u) == plural for t in model_targets(u.fields)]
                self.ownership.verify_owned(plural, own)
        prepared = [(u, self._properties(u)) for u in updates]
        if self.config.lifecycle:
            self._add_lifecycle([(u, props) for u, props in prepared if plural_of(u) == "contacts"])
        results: dict[int, WriteResult] = {}
        empty = [i for i, (_, props) in enumerate(prepared) if not props]
        for i in empty:  # nothing configured to write for this update: nothing to send
            results[i] = WriteResult(prepared[i][0].record_id, WriteStatus.OK)
        todo = [i for i in range(len(prepared)) if i not in results]
        by_type = {plural: [i for i in todo if plural_of(prepared[i][0]) == plural] for plural in ("contacts", "companies")}
        quota_error: QuotaExhausted | None = None
        for plural, part in ((plural, part) for plural, indices in by_type.items() for part in chunks(indices, BATCH_UPDATE)):
            chunk = list(part)
            if quota_error is not None:
                for i in chunk:
                    results[i] = _retryable(prepared[i][0], "QUOTA_EXHAUSTED", str(quota_error))
                continue
            try:
                results.update(self._write_chunk(prepared, chunk, plural))
            except QuotaExhausted as exc:
                quota_error = exc
                for i in chunk:
                    results[i] = _retryable(prepared[i][0], "QUOTA_EXHAUSTED", str(exc))
        ordered = [results[i] for i in range(len(prepared))]
        for result in ordered:
            if not result.ok:
                self.failures[result.error_code or result.status.value] += 1
                log.warning(
                    "write.failed",
                    record_id=result.record_id,
                    status=result.status.value,
                    code=result.error_code,
                    message=result.message,
                )
        return ordered

    def _properties(self, update: ScoreUpdate) -> dict[str, str]:
        """The update's properties: its own ``fields`` when it has them, else the ``write`` map."""
        mapping = self.mapping if update.fields is None else update.fields
        return {
            mapping[name]: property_value(name, value)
            for name, value in update.values.items()
            if name in mapping
        }

    def _write_chunk(self, prepared: Sequence[tuple[ScoreUpdate, dict[str, str]]], chunk: list[int],
                     plural: str = "contacts") -> dict[int, WriteResult]:
        """One batch update of ``plural`` (``contacts``, ``companies``) records."""
        body = import_module(f"hubspot.crm.{plural}").BatchInputSimplePublicObjectBatchInput(
            inputs=[{"id": prepared[i][0].record_id, "properties": prepared[i][1]} for i in chunk]
        )
        try:
            response = self.client.call(
                f"{plural}.batch.update",
                getattr(self.client, f"{plural}_batch").update,
                batch_input_simple_public_object_batch_input=body,
            )
        except HubSpotRequestError as exc:
            error = exc.error
            code = error.codes[0] if error.codes else (error.category or f"HTTP_{error.status}")
            if error.properties and set(error.codes) <= _PROPERTY_LEVEL:
                # The property itself is the problem (missing, read-only): every record writing it
                # fails the same way, so fail those at once rather than bisecting 100 into 199 calls.
                bad = set(error.properties)
                hit = [i for i in chunk if bad & set(prepared[i][1])]
                rest = [i for i in chunk if i not in hit]
                out = {i: WriteResult(prepared[i][0].record_id, WriteStatus.PERMANENT, code, error.message) for i in hit}
                if rest and hit:
                    out.update(self._write_chunk(prepared, rest, plural))
                if hit:
                    return out
            if len(chunk) > 1:
                # A bad value fails HubSpot's whole batch: halve until the bad records stand alone.
                half = len(chunk) // 2
                return {**self._write_chunk(prepared, chunk[:half], plural), **self._write_chunk(prepared, chunk[half:], plural)}
            update = prepared[chunk[0]][0]
            return {chunk[0]: WriteResult(update.record_id, WriteStatus.PERMANENT, code, error.message)}
        except TransientError as exc:
            return {i: _retryable(prepared[i][0], "TRANSIENT", str(exc)) for i in chunk}
        failed = _failed_ids(response)
        out: dict[int, WriteResult] = {}
        for i in chunk:
            update = prepared[i][0]
            if update.record_id in failed:
                category, message = failed[update.record_id]
                status = WriteStatus.PERMANENT if category in _PERMANENT else WriteStatus.RETRYABLE
                out[i] = WriteResult(update.record_id, status, category, message)
            else:
                out[i] = WriteResult(update.record_id, WriteStatus.OK)
        return out

    # --- lifecyclestage, forward only --------------------------------------------------------

    def _add_lifecycle(self, prepared: list[tuple[ScoreUpdate, dict[str, str]]]) -> None:
        """Move ``lifecyclestage`` forward to the stage's mapped value; never backwards (HubSpot
        only moves it back after clearing it, which leadscore never does)."""
        targets = {
            u.record_id: self.config.lifecycle[str(u.values["stage"])]
            for u, _ in prepared
            if "stage" in u.values and str(u.values["stage"]) in self.config.lifecycle
        }
        if not targets:
            return
        order = self._lifecycle_options()
        current = self._current_lifecycle(list(targets))
        for update, props in prepared:
            target = targets.get(update.record_id)
            if target is None or target not in order:
                continue
            now = current.get(update.record_id) or ""
            if now == "" or (now in order and order.index(target) > order.index(now)):
                props["lifecyclestage"] = target

    def _lifecycle_options(self) -> list[str]:
        if self._lifecycle_order is None:
            prop = self.client.call("properties.read", self.client.properties.get_by_name, "contacts", "lifecyclestage")
            options = sorted(prop.options or [], key=lambda o: (o.display_order if o.display_order is not None else 0))
            self._lifecycle_order = [o.value for o in options]
        return self._lifecycle_order

    def _current_lifecycle(self, ids: list[str]) -> dict[str, str | None]:
        from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId

        found: dict[str, str | None] = {}
        for part in chunks(ids, BATCH_READ):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[{"id": i} for i in part], properties=["lifecyclestage"], properties_with_history=[]
            )
            response = self.client.call("contacts.batch.read", self.client.contacts_batch.read, batch_read_input_simple_public_object_id=body)
            for record in response.results or []:
                found[str(record.id)] = (record.properties or {}).get("lifecyclestage")
        return found


def _failed_ids(response: Any) -> dict[str, tuple[str, str]]:
    """Record id -> (category, message) from a 207 response's errors."""
    failed: dict[str, tuple[str, str]] = {}
    if not getattr(response, "num_errors", None) and not getattr(response, "errors", None):
        return failed
    for error in response.errors or []:
        context: Mapping[str, Any] = getattr(error, "context", None) or {}
        category = str(getattr(error, "category", None) or "ERROR")
        message = str(getattr(error, "message", "") or "")[:300]
        for record_id in context.get("ids", []) or []:
            failed[str(record_id)] = (category, message)
    return failed


def _retryable(update: ScoreUpdate, code: str, message: str) -> WriteResult:
    return WriteResult(update.record_id, WriteStatus.RETRYABLE, code, message)
