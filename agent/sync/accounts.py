"""Accounts in scoring: a person reads its account's fields, an account rolls up its people.

Both come from the mirror, not from the CRM's query: a person's ``account.*`` fields are joined
from the mirrored account when the person is scored, and an account is scored from its mirrored
people (each scored now by the model that takes it) and their activities. So an account edited in
the CRM reaches its people's scores though the CRM does not stamp them (Salesforce does not move a
Contact's ``SystemModstamp`` when its Account changes), and one person's new activity reaches
its account's score at the same sync. The pipeline, ``preview`` and ``explain`` score alike
through :class:`AccountScoring`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Iterator, Mapping, Sequence

from leadscore.agent.core.records import ACCOUNT_PREFIX, Lead, ScoreResult
from leadscore.agent.scoring.modelset import score_leads
from leadscore.agent.state import MirroredActivities, MirroredLead, RecordKey, StateStore


def scorer_fields(scorer: Any) -> frozenset[str]:
    """Every field ``scorer``'s models read (a model set's, or its engine's)."""
    fields = getattr(scorer, "fields_used", None)
    if fields is None:
        fields = getattr(scorer, "engine", scorer).fields_used
    return frozenset(fields)


def joins_accounts(scorer: Any) -> bool:
    """Whether a person's rules read their account's fields (``account.industry``)."""
    people = getattr(scorer, "people_fields_used", None)
    fields = people if people is not None else scorer_fields(scorer)
    return any(f.startswith(ACCOUNT_PREFIX) for f in fields)


def account_type_for(scorer: Any, connector_account_type: str | None) -> str | None:
    """The account object type a connector's passes pull and score for ``scorer``: the
    connector's (None when it reads no accounts) when a model scores accounts or a person's
    rules read ``account.*``; None otherwise."""
    if connector_account_type is None:
        return None
    if getattr(scorer, "scores_accounts", False) or joins_accounts(scorer):
        return connector_account_type
    return None


@dataclass
class AccountScoring:
    """Scoring one connector's records with their accounts, from the mirror."""

    store: StateStore
    connector: str
    scorer: Any
    account_type: str | None
    #: A person's rules read ``account.*`` (and the connector reads accounts): joined when scored.
    joins: bool = field(init=False)
    #: A model scores accounts (and the connector reads them): they are rolled up.
    scores: bool = field(init=False)

    def __post_init__(self) -> None:
        # Worked out once per scorer: the pipeline asks at every batch.
        self.joins = self.account_type is not None and joins_accounts(self.scorer)
        self.scores = self.account_type is not None and bool(getattr(self.scorer, "scores_accounts", False))

    def is_account(self, lead: Lead) -> bool:
        return self.account_type is not None and lead.object_type == self.account_type

    def with_account_fields(self, leads: Sequence[Lead], known: Mapping[str, Lead] | None = None) -> list[Lead]:
        """``leads`` with their mirrored account's fields as ``account.<name>`` (``known``:
        accounts already at hand, by id); unchanged when no rule reads them."""
        if not self.joins:
            return list(leads)
        assert self.account_type is not None
        wanted = {lead.account_id for lead in leads if lead.account_id} - set(known or {})
        found: dict[str, Lead] = dict(known or {})
        if wanted:
            keys = [RecordKey(self.account_type, account_id) for account_id in sorted(wanted)]
            found.update({key.record_id: m.lead for key, m in self.store.mirror_records(self.connector, keys).items()})
        joined: list[Lead] = []
        for lead in leads:
            account = found.get(lead.account_id) if lead.account_id else None
            if account is None:
                joined.append(lead)
                continue
            extra = {ACCOUNT_PREFIX + k: v for k, v in (account.fields or {}).items()}
            joined.append(replace(lead, fields={**(lead.fields or {}), **extra}))
        return joined

    def score_accounts(
        self, accounts: Sequence[Lead], as_of: datetime
    ) -> Iterator[tuple[Lead, ScoreResult | None | BaseException]]:
        """Each account with its result: its account model over its own fields, its people's
        activities and its people's results as of ``as_of`` (None: no account model takes it; an
        exception: it could not be scored, which must not stop the others)."""
        score_account = getattr(self.scorer, "score_account", None)
        if score_account is None:
            for account in accounts:
                yield account, None
            return
        members = self.store.mirror_members(self.connector, [a.id for a in accounts])
        for account in accounts:
            people = [m for m in members.get(account.id, []) if not m.lead.unreadable]
            try:
                joined = self.with_account_fields([m.lead for m in people], {account.id: account})
                results = score_leads(self.scorer, joined, MirroredActivities(people), as_of)
                failed = next((r for r in results if isinstance(r, Exception)), None)
                if failed is not None:
                    raise failed
                pooled = [a for m in people for a in m.activities]
                yield account, score_account(account, pooled, as_of, results)
            except Exception as exc:  # noqa: BLE001 - the caller logs and counts it
                yield account, exc

    def score_mirrored(self, page: Sequence[MirroredLead], as_of: datetime) -> dict[RecordKey, ScoreResult]:
        """Results for a page of mirrored records, people and accounts alike, as a sync would
        score them (a record that cannot be scored, or an account no model takes, is left out):
        what ``preview`` compares."""
        out: dict[RecordKey, ScoreResult] = {}
        people = [m for m in page if not self.is_account(m.lead) and not m.lead.unreadable]
        joined = self.with_account_fields([m.lead for m in people])
        for lead, result in zip(joined, score_leads(self.scorer, joined, MirroredActivities(people), as_of)):
            if not isinstance(result, Exception):  # a preview shows what scores; the sync logs the rest
                out[RecordKey(lead.object_type, lead.id)] = result
        accounts = [m.lead for m in page if self.is_account(m.lead) and not m.lead.unreadable]
        for account, result in self.score_accounts(accounts, as_of):
            if isinstance(result, ScoreResult):
                out[RecordKey(account.object_type, account.id)] = result
        return out

