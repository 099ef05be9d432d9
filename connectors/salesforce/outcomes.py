"""Outcomes from Salesforce, incrementally: what became of each Lead and Contact, for training.

What is an outcome (the admin's ``[connectors.salesforce.outcomes]``, :class:`SalesforceOutcomes`):

=========================================================  ===========================================
Salesforce                                                 outcome
=========================================================  ===========================================
Lead ``IsConverted``                                       ``converted`` of the Lead, at its
                                                           ``ConvertedDate``
Lead ``Status`` in ``disqualified_status``                 ``disqualified`` of the Lead, at its
(Closed - Not Converted)                                   ``LastModifiedDate`` when first seen so
                                                           (``estimated``)
Opportunity ``IsClosed``, ``IsWon``                        ``won`` of each Contact in its contact
                                                           roles (none: of each Contact of its
                                                           Account) and of each Lead converted into
                                                           it or into one of those Contacts, at its
                                                           ``CloseDate``, with its ``Amount`` and
                                                           ``CreatedDate`` (``source_id``: the
                                                           Opportunity's id)
Opportunity ``IsClosed``, not ``IsWon``                    ``lost``, likewise
Opportunity open                                           ``open`` (replaces an earlier won or lost)
=========================================================  ===========================================

A converted Lead's own outcome is ``converted`` (its status no longer matters); Contacts have no
outcome of their own, only their Opportunities'.

**Incremental, and what it costs.** Windows on ``SystemModstamp`` like the record pull's
(:mod:`leadscore.connectors.salesforce.pull`): after the outcome cursor less ``overlap_seconds``, up
to the sync's ``until``, ordered by ``SystemModstamp, Id``, 2,000 records a page:

1. Leads that are converted or carry a disqualifying status (``WHERE ... AND (IsConverted = true
   OR Status IN (...))``), so only decided Leads are read: one query per 2,000;
2. contact roles changed in the window (one query): the Opportunities they name are read by id
   first, holding the cursor - a role added to an Opportunity closed long ago decides its Contact
   now, whether or not Salesforce touched the Opportunity;
3. Opportunities changed in the window, open ones included (a reopened Opportunity withdraws its
   outcome): one query per 2,000.

Each page of Opportunities then costs one query per 500 of them for their contact roles, one per
500 Accounts (those without roles, with ``opportunities_by_account``) for their Contacts, and one
per 500 Opportunities and Contacts for the Leads converted into them. An unchanged re-run costs
**3** queries (one per window); the first pull (no cursor) reads every decided Lead and every
Opportunity once. Not covered: an Opportunity deleted (its outcome stays recorded), and a Lead
converted into a Contact or Account whose Opportunity closed before and changes no more.

The cursor holds the two windows' positions, ``{"Lead": ..., "Opportunity": ...}`` (each the
newest stamp read, never past ``until``, and ``until`` once its window is read); a plain instant
(``backfill``'s form) starts both there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Iterator, Mapping, Sequence

from leadscore.agent.core.contract import OUTCOMES, Cursor, OutcomeBatch
from leadscore.agent.core.records import Outcome, OutcomeKind
from leadscore.connectors.kit.chunking import chunks
from leadscore.connectors.kit.keyset import HighWaterMark, Window
from leadscore.connectors.kit.page_tokens import PageTokens
from leadscore.connectors.kit.times import iso_z, parse_salesforce_time as parse_time
from leadscore.connectors.salesforce.client import SalesforceClient
from leadscore.connectors.salesforce.config import SalesforceConfig
from leadscore.connectors.salesforce.pull import IN_CHUNK, in_list, soql_string, window_where

LEADS, OPPORTUNITIES = "Lead", "Opportunity"
LEAD_COLUMNS = "Id, IsConverted, ConvertedDate, Status, LastModifiedDate, SystemModstamp"
OPPORTUNITY_COLUMNS = "Id, AccountId, StageName, IsClosed, IsWon, CloseDate, Amount, CreatedDate, SystemModstamp"


@dataclass
class _Position(HighWaterMark):
    """One window's progress: the newest stamp read (never past ``until``), which the cursor keeps."""

    newest: datetime | None
    until: datetime | None
    advancing: bool = True

    def value(self) -> str | None:
        return iso_z(self.newest) if self.newest else None


class OutcomeReader:
    """Salesforce's outcomes as :class:`OutcomeBatch` values (see the module docstring)."""

    def __init__(self, client: SalesforceClient, config: SalesforceConfig) -> None:
        self.client = client
        self.config = config
        self.mapping = config.outcomes

    def pull(self, cursor: Cursor, until: datetime | None) -> Iterator[OutcomeBatch]:
        start = _starts(cursor.value)
        positions = {name: _Position(parse_time(value) if value else None, until) for name, value in start.items()}

        def batch(outcomes: list[Outcome]) -> OutcomeBatch:
            value = json.dumps({name: p.value() for name, p in positions.items()}, sort_keys=True)
            return OutcomeBatch(outcomes, Cursor(OUTCOMES, value))

        if "Lead" in self.config.objects:
            lead = positions[LEADS]
            for page in self._pages(self._lead_query(self._where(start[LEADS], until))):
                for record in page:
                    lead.advance(parse_time(record.get("SystemModstamp")))
                yield batch(self._lead_outcomes(page))
            lead.advance(until)
        if self.mapping.opportunities:
            deal = positions[OPPORTUNITIES]
            where = self._where(start[OPPORTUNITIES], until)
            seen: set[str] = set()
            if start[OPPORTUNITIES] is not None:
                touched = sorted({r["OpportunityId"] for r in self._query(f"SELECT OpportunityId FROM OpportunityContactRole{where}")
                                  if isinstance(r.get("OpportunityId"), str)})
                deal.advancing = False  # their own stamps lie anywhere: the cursor holds
                for part in chunks(touched, IN_CHUNK):
                    for page in self._pages(f"SELECT {OPPORTUNITY_COLUMNS} FROM Opportunity WHERE Id IN {in_list(part)}"):
                        seen.update(r["Id"] for r in page)
                        yield batch(self._opportunity_outcomes(page))
                deal.advancing = True
            for page in self._pages(f"SELECT {OPPORTUNITY_COLUMNS} FROM Opportunity{where} ORDER BY SystemModstamp, Id"):
                for record in page:
                    deal.advance(parse_time(record.get("SystemModstamp")))
                fresh = [r for r in page if r["Id"] not in seen]
                seen.update(r["Id"] for r in fresh)
                yield batch(self._opportunity_outcomes(fresh))
            deal.advance(until)
        if any(p.value() != start[name] for name, p in positions.items()):
            yield batch([])  # windows read to the end: the cursor moves to ``until``

    # --- queries ----------------------------------------------------------------------------

    def _where(self, value: str | None, until: datetime | None) -> str:
        return window_where(Window.from_instant(value, until, parse_time), self.config.overlap_seconds)

    def _lead_query(self, where: str) -> str:
        decided = "IsConverted = true"
        if self.mapping.disqualified_status:
            statuses = ", ".join(soql_string(s) for s in self.mapping.disqualified_status)
            decided = f"(IsConverted = true OR Status IN ({statuses}))"
        where = f"{where} AND {decided}" if where else f" WHERE {decided}"
        return f"SELECT {LEAD_COLUMNS} FROM Lead{where} ORDER BY SystemModstamp, Id"

    def _pages(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """The result pages of ``soql`` (2,000 records each), following ``nextRecordsUrl``."""
        result = self.client.call("query", lambda sf: sf.query(soql))
        tokens = PageTokens("Salesforce answered the query locator {token} twice: the outcome pull would never end")
        while True:
            records = list(result.get("records", []))
            if records:
                yield records
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            tokens.follow(next_url)
            result = self.client.call("queryMore", lambda sf: sf.query_more(next_url, identifier_is_url=True))

    def _query(self, soql: str) -> list[dict[str, Any]]:
        return [r for page in self._pages(soql) for r in page]

    def _by_ids(self, select: str, lists: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, Any]]:
        """``select`` for records whose column is in any of the id lists (ORed), at most
        :data:`IN_CHUNK` ids a query, so the query stays inside SOQL's URI limit."""
        pairs = [(column, i) for column, ids in lists for i in dict.fromkeys(ids)]
        rows: dict[str, dict[str, Any]] = {}
        for part in chunks(pairs, IN_CHUNK):
            grouped: dict[str, list[str]] = {}
            for column, i in part:
                grouped.setdefault(column, []).append(i)
            where = " OR ".join(f"{column} IN {in_list(ids)}" for column, ids in grouped.items())
            for r in self._query(f"{select} WHERE {where}"):
                rows[r["Id"]] = r
        return list(rows.values())

    # --- outcomes ---------------------------------------------------------------------------

    def _lead_outcomes(self, leads: Iterable[Mapping[str, Any]]) -> list[Outcome]:
        disqualifying = {s.casefold() for s in self.mapping.disqualified_status}
        found: list[Outcome] = []
        for r in leads:
            if r.get("IsConverted"):
                found.append(Outcome.of(OutcomeKind.CONVERTED, r["Id"], "lead", parse_time(r.get("ConvertedDate")),
                                        detail="IsConverted"))
            elif isinstance(r.get("Status"), str) and r["Status"].casefold() in disqualifying:
                found.append(Outcome.of(OutcomeKind.DISQUALIFIED, r["Id"], "lead", parse_time(r.get("LastModifiedDate")),
                                        estimated=True, detail=f"Status {r['Status']}"))
        return found

    def _opportunity_outcomes(self, opportunities: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """One outcome per Opportunity and each Contact and Lead it decides (module docstring)."""
        if not opportunities:
            return []
        ids = [r["Id"] for r in opportunities]
        contacts: dict[str, set[str]] = {i: set() for i in ids}
        for part in chunks(ids, IN_CHUNK):
            for role in self._query(f"SELECT OpportunityId, ContactId FROM OpportunityContactRole WHERE OpportunityId IN {in_list(part)}"):
                if role.get("OpportunityId") in contacts and isinstance(role.get("ContactId"), str):
                    contacts[role["OpportunityId"]].add(role["ContactId"])
        if self.mapping.opportunities_by_account:
            accounts = {r["Id"]: r["AccountId"] for r in opportunities if not contacts[r["Id"]] and r.get("AccountId")}
            members: dict[str, set[str]] = {}
            for r in self._by_ids("SELECT Id, AccountId FROM Contact", [("AccountId", sorted(set(accounts.values())))]):
                members.setdefault(r.get("AccountId") or "", set()).add(r["Id"])
            for opportunity, account in accounts.items():
                contacts[opportunity] |= members.get(account, set())
        leads: dict[str, set[str]] = {i: set() for i in ids}
        if "Lead" in self.config.objects:
            decided_contacts = sorted({c for found in contacts.values() for c in found})
            by_contact: dict[str, set[str]] = {}
            rows = self._by_ids("SELECT Id, ConvertedOpportunityId, ConvertedContactId FROM Lead",
                                [("ConvertedOpportunityId", ids), ("ConvertedContactId", decided_contacts)])
            for r in rows:
                if r.get("ConvertedOpportunityId") in leads:
                    leads[r["ConvertedOpportunityId"]].add(r["Id"])
                if r.get("ConvertedContactId"):
                    by_contact.setdefault(r["ConvertedContactId"], set()).add(r["Id"])
            for opportunity, found in contacts.items():
                for contact in found:
                    leads[opportunity] |= by_contact.get(contact, set())
        with_contacts = "Contact" in self.config.objects
        outcomes: list[Outcome] = []
        for r in opportunities:
            kind = OutcomeKind.OPEN if not r.get("IsClosed") else OutcomeKind.WON if r.get("IsWon") else OutcomeKind.LOST
            when = parse_time(r.get("CloseDate")) if kind is not OutcomeKind.OPEN else None
            detail = f"StageName {r['StageName']}" if isinstance(r.get("StageName"), str) else None
            targets = [("lead", i) for i in sorted(leads[r["Id"]])]
            if with_contacts:
                targets += [("contact", i) for i in sorted(contacts[r["Id"]])]
            for object_type, record_id in targets:
                outcomes.append(Outcome.of(kind, record_id, object_type, when, amount=_amount(r.get("Amount")),
                                           source_id=r["Id"], detail=detail, started_at=parse_time(r.get("CreatedDate"))))
        return outcomes


def _amount(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _starts(value: str | None) -> dict[str, str | None]:
    """Each window's start in an outcome cursor value; a plain instant starts both there."""
    if value and value.startswith("{"):
        data = json.loads(value)
        return {LEADS: data.get(LEADS), OPPORTUNITIES: data.get(OPPORTUNITIES)}
    return {LEADS: value or None, OPPORTUNITIES: value or None}
