"""The convergence test's world: a seeded, randomised schedule of what happens to a CRM and to the
agent, and an oracle that says whether the CRM ended up right (issue 11, item 3).

One :class:`World` drives one CRM emulator (HubSpot or Salesforce, in this process, over real
HTTP, on its real clock) and one agent (the real ``leadscore`` CLI in a subprocess, with its
SQLite state in the world's directory, so ``kill -9`` is real). Each step is one of:

- a user's edit of a field the scoring reads (title, industry, country, email, the BANT fields);
  never of the fields leadscore owns (score, stage, reason);
- a new activity: a call, meeting or email (reply or outgoing) logged on a record, plus notes on
  HubSpot, which the scoring does not read;
- a new record, a deletion, a restore from the recycle bin, and on Salesforce a Lead conversion;
- a clock advance of seconds to weeks. The clock is virtual: ``now = real now + offset``; the
  agent's commands get ``--as-of <virtual now>``, and activities happen a little before it (a
  Salesforce Task's instant is its ``CreatedDate``, set at commit and never in the future, so a
  call or email logged there is dated by the real clock);
- ``leadscore sync``, ``rescore`` or ``backfill``, some under injected faults (429/5xx, dropped
  connections, latency, and bursts of latency past the client's read timeout: real timeouts),
  some killed with SIGKILL at a random point (the next command waits for the dead one's lease).

Every ``check_every`` steps comes a quiescent point: faults off, ``rescore --as-of T`` and
``sync --as-of T`` (T the virtual now; both must exit 0), then the invariant, checked by
:meth:`World.check` independently of the agent's state store: every live record in the CRM holds
exactly the score, stage and reason the engine computes from that record's current data. The
expected values come from a fresh connector's full pull (the real normaliser, no cursor, every
field and activity) scored as of T with the engine built from the agent's own config; the held
values are read from the emulator's handle. Reasons are compared as the agent's diff compares
them (:class:`agent.sync.diff.DiffPolicy`): an activity's age ("3d ago" -> "4d ago") alone is
deliberately never rewritten.

The report counts operations by kind, records checked, wrong (the CRM holds other values),
missed (never got a score), and writes against the floor: per interval between two quiescent
points, the records written (the busiest write value's API writes: every record write carries
its reason, save an empty one in a Bulk CSV) against the records whose values had to change
(their desired values at this point differ from what the CRM held at the last one). Writes over
the floor are reported, not asserted: a kill, a timed-out write that landed, a record changed and
changed back, an agent command at a virtual instant between two checks all cost legitimate extra
writes.

The schedule is a function of the seed (``CONVERGENCE_SEED`` replays one; the seed is printed
with every report): the same operations on the same records in the same order. Where a kill
lands and what a fault hits depend on timing, so a replay is close, not identical.

``python -m tests.convergence`` (or ``make soak``, ``bench/soak.py``) runs a larger world for
``SOAK_MINUTES`` (30) and prints the report; ``tests/test_convergence.py`` runs CI-sized worlds.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from leadscore.agent.config import load_config
from leadscore.agent.core.records import group_by_lead
from leadscore.agent.sync import build_scorer
from leadscore.agent.sync.diff import DiffPolicy
from leadscore.agent.core.contract import Connector, Cursor
from tests.cli_agent import toml_table

ROOT = Path(__file__).resolve().parent.parent
LEADSCORE = Path(sys.executable).with_name("leadscore")
LEASE_JOB = "pipeline"  # agent.sync.jobs.LEASE_JOB: the lease every job of a connector runs under
LEASE_SECONDS = 3

#: The shipped example model: fit rules, email engagement with a 30-day step decay, a webinar's
#: 90-day decay, rules for the activities the world logs (calls, meetings and replies, each with a
#: decay of its own, so they move scores and time moves them back), reasons with activity ages, a
#: BANT gate on SQL, and an account model rolling up the people.
MODEL = (ROOT / "config.example.toml").read_text(encoding="utf-8")

# Values a user types into the fields the model reads: some score, some do not, some clear it.
TITLES = ("CEO", "CTO", "VP Sales", "Head of Marketing", "Founder", "Marketing Manager", "Director of IT",
          "Software Engineer", "Analyst", "Student", None)
INDUSTRIES = ("Technology", "Software", "Information Technology", "Healthcare", "Education", "Finance", "Retail",
              "Manufacturing", None)
COUNTRIES = ("United States", "Canada", "Mexico", "United Kingdom", "Germany", "France", "India", "Brazil",
             "Australia", None)
BANT = {
    "budget": ("yes", "50000", "approved", "no", None),
    "authority": ("yes", "decision maker", "economic buyer", "no", None),
    "need": ("high", "confirmed", "medium", "low", None),
    "timeline": ("this quarter", "next quarter", "12+ months", "unknown", None),
}
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "acme.io", "initech.com", "globex.net")

#: Operation -> weight in the schedule (an operation that cannot run now is drawn again).
#: Operations that are one CRM method each (:meth:`World._record_op`).
RECORD_OPS = frozenset({"create", "delete", "restore", "convert"})
OPERATIONS: dict[str, int] = {
    "edit": 24, "activity": 20, "create": 3, "delete": 5, "restore": 4, "convert": 5,
    "clock": 12, "sync": 20, "rescore": 8, "backfill": 5,
}
CLOCK_STEPS: tuple[tuple[str, Callable[[random.Random], timedelta], int], ...] = (
    ("seconds", lambda r: timedelta(seconds=r.randint(5, 55)), 2),
    ("hours", lambda r: timedelta(hours=r.randint(1, 20)), 3),
    ("days", lambda r: timedelta(days=r.randint(1, 6)), 3),
    ("weeks", lambda r: timedelta(weeks=r.randint(1, 3)), 2),
)
#: Fault levels for a faulted agent command: (error_rate, drop_rate, latency).
FAULT_LEVELS = {"light": (0.05, 0.02, 0.0), "moderate": (0.15, 0.05, 0.01), "storm": (0.35, 0.10, 0.0)}
#: The connectors' retry settings: a few quick retries, so a faulted command ends soon (a
#: HubSpot 429 asks for 10 s) and timeouts are real at ``READ_TIMEOUT``.
CONNECT_TIMEOUT, READ_TIMEOUT, RETRY_MAX_WAIT = 2.0, 3.0, 1.0


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def substance(reason: str) -> str:
    """A reason as the agent's diff compares it (activity ages left out)."""
    return DiffPolicy().normalise["reason"](reason)


def convergence_seed(default: int | None = None) -> int:
    """``CONVERGENCE_SEED`` when set (a replay), else ``default``, else a fresh one."""
    given = os.environ.get("CONVERGENCE_SEED", "").strip()
    if given:
        return int(given)
    return default if default is not None else random.SystemRandom().randrange(1, 2**31)


# --- values -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Values:
    """What a record carries (or should): score, stage, reason."""

    score: int | None
    stage: str | None
    reason: str

    @classmethod
    def held(cls, score: Any, stage: Any, reason: Any) -> Values:
        """Values as a CRM returns them: numbers as text or floats, an empty field as None."""
        number = None if score in (None, "") else int(float(score))
        return cls(number, stage or None, reason or "")

    def key(self) -> tuple[int | None, str | None, str]:
        """What makes a different value for the diff: the reason without its ages."""
        return self.score, self.stage, substance(self.reason)

    def show(self) -> str:
        return f"score {self.score}, stage {self.stage}, reason {self.reason!r}"


@dataclass(frozen=True)
class Held:
    object_type: str
    values: Values


@dataclass(frozen=True)
class Mismatch:
    record_id: str
    object_type: str
    expected: Values
    actual: Values
    #: What the world did to this record (its journal lines, latest last).
    history: tuple[str, ...] = ()

    def show(self) -> str:
        parts = [name for name, a, b in (("score", self.expected.score, self.actual.score),
                                          ("stage", self.expected.stage, self.actual.stage),
                                          ("reason", substance(self.expected.reason), substance(self.actual.reason)))
                 if a != b]
        lines = [f"  {self.object_type} {self.record_id} ({', '.join(parts)} differ)",
                 f"      expected:  {self.expected.show()}",
                 f"      CRM holds: {self.actual.show()}"]
        if self.history:
            lines.append("      what the world did to it (real time, virtual time):")
            lines += [f"        {line}" for line in self.history[-8:]]
        return "\n".join(lines)


# --- the CRMs ---------------------------------------------------------------------------------------


#: What a user action did: the ids of the records it touched, and what happened, for the journal.
Did = tuple[tuple[str, ...], str]


class Crm(Protocol):
    """One emulated CRM and what a user does in it."""

    name: str

    def table(self) -> dict[str, Any]:
        """The ``[connectors.NAME]`` table, for the agent's config and the oracle's connector."""
        ...

    def connector(self) -> Connector: ...

    def held(self) -> dict[str, Held]:
        """Every live record's leadscore values, read from the emulator's handle."""
        ...

    def live_count(self) -> int: ...

    def deleted_count(self) -> int: ...

    # Each user action returns what it did: the records it touched and a line for the journal.

    def edit(self, rng: random.Random) -> Did: ...

    def log_activity(self, rng: random.Random, at: datetime) -> Did: ...

    def create(self, rng: random.Random) -> Did: ...

    def delete(self, rng: random.Random) -> Did: ...

    def restore(self, rng: random.Random) -> Did: ...

    def can_convert(self) -> bool: ...

    def convert(self, rng: random.Random) -> Did: ...

    def set_faults(self, *, error_rate: float, drop_rate: float, latency: float, seed: int) -> None: ...

    def clear_faults(self) -> None: ...

    def value_writes(self) -> dict[str, int]:
        """Values written through the API so far, by write value (``score``, ``stage``, ``reason``)."""
        ...

    def write_calls(self) -> int:
        """Successful write requests so far."""
        ...

    def faults_served(self) -> int: ...

    def stop(self) -> None: ...


def _pick(rng: random.Random, items: Sequence[Any]) -> Any:
    return items[rng.randrange(len(items))]


def _weighted(rng: random.Random, options: Mapping[str, int]) -> str:
    names = list(options)
    return rng.choices(names, weights=[options[n] for n in names])[0]


class _Faults:
    """Fault injection, alike for both emulators but for the statuses each vendor answers with."""

    emulator: Any
    FAULT_STATUSES: tuple[int, ...]

    def set_faults(self, *, error_rate: float, drop_rate: float, latency: float, seed: int) -> None:
        self.emulator.set_faults(error_rate=error_rate, statuses=self.FAULT_STATUSES, drop_rate=drop_rate,
                                 latency=latency, seed=seed)

    def clear_faults(self) -> None:
        self.emulator.set_faults()


class HubSpotCrm(_Faults):
    """A HubSpot portal: contacts; user edits and engagements through the emulator's handle."""

    name = "hubspot"
    WRITE = {"score": "leadscore_score", "stage": "leadscore_stage", "reason": "leadscore_reason"}
    WRITE_ENDPOINTS = frozenset({"contacts.batch.update", "contacts.update", "contacts.batch.upsert"})
    FAULT_STATUSES = (429, 500, 502, 503, 504, 423)
    EDITS = {"jobtitle": 3, "industry": 3, "country": 2, "email": 1, "budget": 1, "authority": 1, "need": 1,
             "timeline": 1}

    def __init__(self, records: int, seed: int, *, pull_batch_size: int) -> None:
        from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

        self.emulator = HubSpotEmulator(limits=RateLimits(per_ten_seconds=1_000_000, daily=100_000_000,
                                                          search_per_second=100_000)).start()
        # Seeded history lies an hour back, before the agent's first pull.
        ids = self.emulator.seed(records, seed=seed, as_of=datetime.now(timezone.utc) - timedelta(hours=1))
        self.live: list[str] = list(ids)
        self.deleted: list[str] = []
        self.pull_batch_size = pull_batch_size
        self._serial = 0

    def table(self) -> dict[str, Any]:
        return {
            "host": self.emulator.base_url, "access_token": self.emulator.token,
            "per_ten_seconds": 1_000_000, "search_per_second": 100_000, "pull_batch_size": self.pull_batch_size,
            "fields": {name: name for name in BANT}, "write": dict(self.WRITE),
            "connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT, "retry_max_wait": RETRY_MAX_WAIT,
        }

    def connector(self) -> Connector:
        from leadscore.connectors.hubspot import HubSpotConnector

        return HubSpotConnector(self.table())

    def held(self) -> dict[str, Held]:
        w = self.WRITE
        held = {cid: Held("contact", Values.held(p.get(w["score"]), p.get(w["stage"]), p.get(w["reason"])))
                for cid, p in self.emulator.contacts().items()}
        held.update({cid: Held("company", Values.held(p.get(w["score"]), p.get(w["stage"]), p.get(w["reason"])))
                     for cid, p in self.emulator.companies().items()})
        return held

    def live_count(self) -> int:
        return len(self.live)

    def deleted_count(self) -> int:
        return len(self.deleted)

    def edit(self, rng: random.Random) -> Did:
        contact = _pick(rng, self.live)
        name = _weighted(rng, self.EDITS)
        if name == "email":
            self._serial += 1
            value: str | None = f"cv-{self._serial}.{contact}@{_pick(rng, EMAIL_DOMAINS)}"
        else:
            choices = {"jobtitle": TITLES, "industry": INDUSTRIES, "country": COUNTRIES}.get(name) or BANT[name]
            value = _pick(rng, choices)
        self.emulator.update_contact(contact, {name: value if value is not None else ""})
        return (contact,), f"edit contact {contact}: {name} = {value!r}"

    def log_activity(self, rng: random.Random, at: datetime) -> Did:
        contact = _pick(rng, self.live)
        kind = _weighted(rng, {"calls": 3, "meetings": 2, "reply": 2, "outgoing": 1, "notes": 1})
        when = iso(at)
        if kind == "calls":
            properties = {"hs_timestamp": when, "hs_call_title": "Call", "hs_call_status": "COMPLETED",
                          "hs_call_direction": _pick(rng, ("OUTBOUND", "INBOUND")),
                          "hs_call_duration": str(rng.randint(60, 1800) * 1000)}
        elif kind == "meetings":
            properties = {"hs_timestamp": when, "hs_meeting_title": "Demo", "hs_meeting_outcome": "COMPLETED",
                          "hs_meeting_start_time": when, "hs_meeting_end_time": iso(at + timedelta(minutes=30))}
        elif kind in ("reply", "outgoing"):
            direction = "INCOMING_EMAIL" if kind == "reply" else "EMAIL"
            properties = {"hs_timestamp": when, "hs_email_direction": direction, "hs_email_subject": "Re: pricing",
                          "hs_email_text": "Thanks, let's talk.", "hs_email_status": "SENT"}
            kind = "emails"
        else:
            properties = {"hs_timestamp": when, "hs_note_body": "Spoke at the booth."}
        engagement = self.emulator.log_engagement(contact, {"type": kind, "properties": properties})
        detail = f" {properties['hs_email_direction']}" if kind == "emails" else ""
        return (contact,), f"log {kind}{detail} {engagement} on contact {contact} at {when}"

    def create(self, rng: random.Random) -> Did:
        self._serial += 1
        properties = {"email": f"cv-new{self._serial}@{_pick(rng, EMAIL_DOMAINS)}", "firstname": "New",
                      "lastname": f"Lead {self._serial}", "lifecyclestage": "lead"}
        for name, choices in (("jobtitle", TITLES), ("industry", INDUSTRIES), ("country", COUNTRIES)):
            value = _pick(rng, choices)
            if value is not None:
                properties[name] = value
        contact = self.emulator.create_contact(properties)
        self.live.append(contact)
        return (contact,), f"create contact {contact}: {properties}"

    def delete(self, rng: random.Random) -> Did:
        contact = self.live.pop(rng.randrange(len(self.live)))
        self.emulator.delete_contact(contact)
        self.deleted.append(contact)
        return (contact,), f"delete contact {contact}"

    def restore(self, rng: random.Random) -> Did:
        contact = self.deleted.pop(rng.randrange(len(self.deleted)))
        self.emulator.restore_contact(contact)
        self.live.append(contact)
        return (contact,), f"restore contact {contact}"

    def can_convert(self) -> bool:
        return False

    def convert(self, rng: random.Random) -> Did:
        raise NotImplementedError("HubSpot has no lead conversion")

    def value_writes(self) -> dict[str, int]:
        writes = self.emulator.property_writes()
        return {value: writes.get(name, 0) for value, name in self.WRITE.items()}

    def write_calls(self) -> int:
        return sum(1 for r in self.emulator.requests() if r.endpoint in self.WRITE_ENDPOINTS and 200 <= r.status < 300)

    def faults_served(self) -> int:
        return sum(1 for r in self.emulator.requests() if r.status == 0 or r.status in (423, 429) or r.status >= 500)

    def stop(self) -> None:
        self.emulator.stop()


class SalesforceCrm(_Faults):
    """A Salesforce org: Leads and Contacts; user edits, Tasks, Events, conversions, the recycle
    bin, through the emulator's handle."""

    name = "salesforce"
    WRITE = {"score": "Leadscore_Score__c", "stage": "Leadscore_Stage__c", "reason": "Leadscore_Reason__c"}
    WRITE_ENDPOINTS = frozenset({"composite.sobjects", "sobject.update", "bulk2.upload"})
    FAULT_STATUSES = (500, 502, 503, 504)
    LEAD_EDITS = {"Title": 3, "Industry": 3, "Country": 2, "Email": 1, "Budget__c": 1, "Authority__c": 1,
                  "Need__c": 1, "Timeline__c": 1}
    CONTACT_EDITS = {"Title": 3, "MailingCountry": 2, "Email": 1}
    CHOICES: dict[str, Sequence[str | None]] = {
        "Title": TITLES, "Industry": INDUSTRIES, "Country": COUNTRIES, "MailingCountry": COUNTRIES,
        **{f"{name.capitalize()}__c": values for name, values in BANT.items()},
    }

    def __init__(self, records: int, seed: int, *, bulk_threshold: int) -> None:
        from leadscore.connectors.salesforce.emulator import SalesforceEmulator

        self.emulator = SalesforceEmulator(daily_limit=100_000_000).start()
        self.emulator.seed(records, seed=seed, as_of=datetime.now(timezone.utc) - timedelta(hours=1))
        self.leads: list[str] = [i for i, v in self.emulator.records("Lead").items() if not v.get("IsConverted")]
        self.contacts: list[str] = list(self.emulator.records("Contact"))
        self.deleted: list[tuple[str, str]] = []
        self.bulk_threshold = bulk_threshold
        self._serial = 0

    def table(self) -> dict[str, Any]:
        creds = self.emulator.credentials
        return {
            "auth": "jwt", "login_url": self.emulator.login_url, "client_id": creds.client_id,
            "username": creds.username, "private_key": creds.private_key_pem, "ca_bundle": str(self.emulator.ca_bundle),
            "lead_fields": {name: f"{name.capitalize()}__c" for name in BANT}, "write": dict(self.WRITE),
            "bulk_threshold": self.bulk_threshold, "bulk_poll_seconds": 0.2,
            "connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT, "retry_max_wait": RETRY_MAX_WAIT,
        }

    def connector(self) -> Connector:
        from leadscore.connectors.salesforce import SalesforceConnector

        return SalesforceConnector(self.table())

    def held(self) -> dict[str, Held]:
        w = self.WRITE
        out: dict[str, Held] = {}
        for sobject, object_type in (("Lead", "lead"), ("Contact", "contact"), ("Account", "account")):
            for record_id, v in self.emulator.records(sobject).items():
                if v.get("IsConverted"):
                    continue  # merged into its Contact: read-only, no longer scored
                values = Values.held(v.get(w["score"]), v.get(w["stage"]), v.get(w["reason"]))
                out[record_id] = Held(object_type, values)
        return out

    def live_count(self) -> int:
        return len(self.leads) + len(self.contacts)

    def deleted_count(self) -> int:
        return len(self.deleted)

    def _any_record(self, rng: random.Random) -> tuple[str, str]:
        index = rng.randrange(self.live_count())
        if index < len(self.leads):
            return "Lead", self.leads[index]
        return "Contact", self.contacts[index - len(self.leads)]

    def edit(self, rng: random.Random) -> Did:
        sobject, record_id = self._any_record(rng)
        name = _weighted(rng, self.LEAD_EDITS if sobject == "Lead" else self.CONTACT_EDITS)
        if name == "Email":
            self._serial += 1
            value: str | None = f"cv-{self._serial}@{_pick(rng, EMAIL_DOMAINS)}"
        else:
            value = _pick(rng, self.CHOICES[name])
        self.emulator.update_record(sobject, record_id, {name: value})
        return (record_id,), f"edit {sobject} {record_id}: {name} = {value!r}"

    def log_activity(self, rng: random.Random, at: datetime) -> Did:
        """A Task's activity instant is its ``CreatedDate``, which Salesforce sets at commit (the
        real clock; back-dating is allowed, the future is not): a call or email logged now is
        dated now however far the virtual clock has run, its due date (``ActivityDate``) the
        virtual day. An Event is dated by its ``StartDateTime``, any instant: the virtual one."""
        sobject, who = self._any_record(rng)
        kind = _weighted(rng, {"call": 3, "meeting": 2, "reply": 2, "outgoing": 1})
        if kind == "meeting":
            event = self.emulator.create_record("Event", {"WhoId": who, "Subject": "Meeting: Demo", "StartDateTime": at,
                                                          "EndDateTime": at + timedelta(minutes=30), "Type": "Meeting"})
            return (who,), f"log Event {event} on {sobject} {who} starting {iso(at)}"
        task: dict[str, Any] = {"WhoId": who, "ActivityDate": at.date(), "Status": "Completed", "Priority": "Normal"}
        if kind == "call":
            task |= {"Subject": "Call", "TaskSubtype": "Call", "Type": "Call", "CallType": "Outbound",
                     "CallDurationInSeconds": rng.randint(60, 1800), "CallDisposition": "Connected"}
        else:
            subject = "RE: Pricing question" if kind == "reply" else "Email: Following up"
            task |= {"Subject": subject, "TaskSubtype": "Email", "Type": "Email"}
        created = self.emulator.create_record("Task", task)
        return (who,), f"log Task {created} ({task['Subject']}) on {sobject} {who}, due {task['ActivityDate']}"

    def create(self, rng: random.Random) -> Did:
        self._serial += 1
        fields: dict[str, Any] = {"FirstName": "New", "LastName": f"Lead {self._serial}",
                                  "Company": f"Newco {self._serial}", "LeadSource": "Web",
                                  "Email": f"cv-new{self._serial}@{_pick(rng, EMAIL_DOMAINS)}"}
        for name in ("Title", "Industry", "Country"):
            value = _pick(rng, self.CHOICES[name])
            if value is not None:
                fields[name] = value
        lead = self.emulator.create_record("Lead", fields)
        self.leads.append(lead)
        return (lead,), f"create Lead {lead}: {fields}"

    def delete(self, rng: random.Random) -> Did:
        sobject, record_id = self._any_record(rng)
        (self.leads if sobject == "Lead" else self.contacts).remove(record_id)
        self.emulator.delete_record(sobject, record_id)
        self.deleted.append((sobject, record_id))
        return (record_id,), f"delete {sobject} {record_id}"

    def restore(self, rng: random.Random) -> Did:
        sobject, record_id = self.deleted.pop(rng.randrange(len(self.deleted)))
        self.emulator.undelete_record(sobject, record_id)
        (self.leads if sobject == "Lead" else self.contacts).append(record_id)
        return (record_id,), f"undelete {sobject} {record_id}"

    def can_convert(self) -> bool:
        return bool(self.leads)

    def convert(self, rng: random.Random) -> Did:
        lead = self.leads.pop(rng.randrange(len(self.leads)))
        contact = self.emulator.convert_lead(lead)
        self.contacts.append(contact)
        return (lead, contact), f"convert Lead {lead} to Contact {contact}"

    def value_writes(self) -> dict[str, int]:
        writes = self.emulator.field_writes()
        return {value: sum(n for key, n in writes.items() if key.split(".", 1)[-1] == name)
                for value, name in self.WRITE.items()}

    def write_calls(self) -> int:
        return sum(1 for r in self.emulator.requests()
                   if r.endpoint in self.WRITE_ENDPOINTS and r.method != "GET" and 200 <= r.status < 300)

    def faults_served(self) -> int:
        return sum(1 for r in self.emulator.requests() if r.status == 0 or r.status >= 500)

    def stop(self) -> None:
        self.emulator.stop()


CRMS: dict[str, Callable[[int, int, WorldSize], Crm]] = {
    "hubspot": lambda records, seed, size: HubSpotCrm(records, seed, pull_batch_size=size.pull_batch_size),
    "salesforce": lambda records, seed, size: SalesforceCrm(records, seed, bulk_threshold=size.bulk_threshold),
}


# --- the agent --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    """One agent command's end."""

    args: tuple[str, ...]
    code: int | None  # None: it hung and was killed at the timeout
    killed: bool
    seconds: float
    stderr: Path

    def tail(self, lines: int = 15) -> str:
        text = self.stderr.read_text(encoding="utf-8", errors="replace") if self.stderr.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


class AgentRunner:
    """The real ``leadscore`` CLI in a subprocess, on the world's config and SQLite state; each
    command's output kept in ``logs/``."""

    def __init__(self, root: Path, config: Path, connector: str) -> None:
        self.root = root
        self.config = config
        self.connector = connector
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._store: Any = None

    @property
    def state_url(self) -> str:
        return f"sqlite:///{self.root / 'state.db'}"

    def run(self, *args: str, timeout: float, kill_after: float | None = None) -> Finished:
        """Run ``leadscore ARGS --config FILE`` to its end, or SIGKILL it ``kill_after`` seconds in."""
        self._count += 1
        base = self.logs / f"{self._count:04d}-{args[0]}"
        env = {k: v for k, v in os.environ.items() if k != "LEADSCORE_DEBUG"}
        env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
        started = time.monotonic()
        with open(f"{base}.out", "w") as out, open(f"{base}.err", "w") as err:
            proc = subprocess.Popen([str(LEADSCORE), *args, "--config", str(self.config)], stdout=out, stderr=err,
                                    env=env, cwd=self.root)
        code: int | None
        try:
            if kill_after is not None:
                try:
                    proc.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        finished = Finished(tuple(args), code, code == -signal.SIGKILL, time.monotonic() - started, Path(f"{base}.err"))
        if finished.killed or code is None:
            self.wait_for_lease()
        return finished

    def wait_for_lease(self, timeout: float = 30) -> None:
        """A killed agent's lease runs out within the lease (renewed while it ran): wait for that,
        as a restarted service would, so the next command is not skipped."""
        deadline = time.monotonic() + timeout
        try:
            if self._store is None:
                if not (self.root / "state.db").exists():
                    return
                from leadscore.agent.state import StateStore

                self._store = StateStore.open(self.state_url)
            while self._store.lease_holder(self.connector, LEASE_JOB) is not None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the {self.connector} lease was still held {timeout}s after a kill")
                time.sleep(0.1)
        except AssertionError:
            raise
        except Exception:  # noqa: BLE001 - the store half-made by a killed first run: just wait the lease out
            time.sleep(LEASE_SECONDS + 0.5)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


def config_text(crm: Crm, state_url: str, rescore_batch: int) -> str:
    agent = {"state_url": state_url, "metrics_port": 0, "lease": f"{LEASE_SECONDS}s", "log_format": "json",
             "rescore_batch": rescore_batch}
    return "\n".join([MODEL, toml_table("agent", agent), toml_table(f"connectors.{crm.name}", crm.table())])


# --- the report -------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """One quiescent point: the invariant over every live record, and the writes since the last."""

    index: int
    as_of: datetime
    offset: timedelta
    checked: int = 0
    wrong: list[Mismatch] = field(default_factory=list)
    missed: list[Mismatch] = field(default_factory=list)
    #: Live records a full pull did not return: the oracle cannot score them.
    unread: list[str] = field(default_factory=list)
    #: Records whose values had to change since the last quiescent point (all, at the first).
    floor: int = 0
    record_writes: int = 0
    write_calls: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.wrong or self.missed or self.unread)

    def line(self) -> str:
        return (f"check {self.index} as of {iso(self.as_of)} (virtual clock +{_span(self.offset)}): "
                f"{self.checked} records, {len(self.wrong)} wrong, {len(self.missed)} missed, "
                f"{len(self.unread)} unread; {self.record_writes} records written in {self.write_calls} write calls "
                f"since the last check, floor {self.floor} ({self.record_writes - self.floor:+d}); {self.seconds:.1f}s")


@dataclass
class Report:
    crm: str
    seed: int
    records: int
    operations: Counter[str] = field(default_factory=Counter)
    exits: Counter[str] = field(default_factory=Counter)
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: Things worth knowing that are not failures, each with how often it happened.
    notes: Counter[str] = field(default_factory=Counter)
    faults_served: int = 0
    offset: timedelta = timedelta(0)
    seconds: float = 0.0
    workdir: Path | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.checks)

    @property
    def checked(self) -> int:
        return sum(c.checked for c in self.checks)

    @property
    def wrong(self) -> int:
        return sum(len(c.wrong) for c in self.checks)

    @property
    def missed(self) -> int:
        return sum(len(c.missed) for c in self.checks)

    @property
    def extra_writes(self) -> int:
        return sum(c.record_writes - c.floor for c in self.checks)

    def render(self, shown: int = 10) -> str:
        status = "OK" if self.ok else "FAILED"
        lines = [
            f"convergence {self.crm}: {status} - seed {self.seed} (replay: CONVERGENCE_SEED={self.seed}), "
            f"{self.records} seeded records, {self.seconds:.0f}s, virtual clock +{_span(self.offset)}",
            "operations: " + ", ".join(f"{k} {v}" for k, v in sorted(self.operations.items())),
            "agent exits: " + ", ".join(f"{k} {v}" for k, v in sorted(self.exits.items())),
            f"faults served by the emulator: {self.faults_served}",
            f"records checked {self.checked}, wrong {self.wrong}, missed {self.missed}; "
            f"records written {sum(c.record_writes for c in self.checks)} over a floor of "
            f"{sum(c.floor for c in self.checks)} (extra {self.extra_writes:+d}), "
            f"in {sum(c.write_calls for c in self.checks)} write calls",
        ]
        lines += [f"  {c.line()}" for c in self.checks]
        lines += [f"problem: {p}" for p in self.problems]
        failing = next((c for c in self.checks if not c.ok), None)
        if failing is not None:
            bad = failing.wrong + failing.missed
            lines.append(f"first failing check {failing.index}: up to {shown} of {len(bad)} records "
                         f"(expected = the engine on the CRM's data as of {iso(failing.as_of)}):")
            lines += [m.show() for m in bad[:shown]]
            if failing.unread:
                lines.append(f"  live records a full pull did not return: {failing.unread[:shown]}")
        lines += [f"note{f' ({n} times)' if n > 1 else ''}: {note}" for note, n in self.notes.items()]
        if self.workdir is not None and not self.ok:
            lines.append(f"journal of every step: {self.workdir / 'journal.txt'}; agent logs and state: {self.workdir}")
        return "\n".join(lines)


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    return f"{days}d{hours:02d}h{rest // 60:02d}m"


# --- the world --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorldSize:
    records: int = 150
    #: Steps to run; None runs until ``minutes`` have passed.
    operations: int | None = 80
    minutes: float | None = None
    check_every: int = 20
    command_timeout: float = 180.0
    pull_batch_size: int = 50  # HubSpot: contacts per batch, so a command spans several
    bulk_threshold: int = 100  # Salesforce: at or above this many changes, Bulk API 2.0
    rescore_batch: int = 50
    fault_share: float = 0.4  # agent commands run under faults
    kill_share: float = 0.3  # agent commands killed with SIGKILL


CI_SIZE = WorldSize()
SOAK_SIZE = WorldSize(records=2000, operations=None, minutes=30, check_every=25, command_timeout=900,
                      pull_batch_size=250, bulk_threshold=500, rescore_batch=250)


class World:
    def __init__(self, crm: Crm, root: Path, seed: int, size: WorldSize,
                 log: Callable[[str], None] = lambda line: None) -> None:
        self.crm = crm
        self.root = root
        self.seed = seed
        self.size = size
        self.log = log
        self.rng = random.Random(f"convergence:{seed}")
        self.offset = timedelta(0)
        self.report = Report(crm.name, seed, size.records, workdir=root)
        root.mkdir(parents=True, exist_ok=True)
        self.runner = AgentRunner(root, root / "leadscore.toml", crm.name)
        self.runner.config.write_text(config_text(crm, self.runner.state_url, size.rescore_batch), encoding="utf-8")
        config = load_config(self.runner.config)
        self.scorer = build_scorer(config)
        self.reason_budget = config.scoring.reason_max_length
        #: Typical seconds of each command, for aiming kills into its middle.
        self.durations = {"sync": 3.0, "rescore": 2.5, "backfill": 4.0}
        self._held: dict[str, tuple[int | None, str | None, str]] = {}
        self.journal_path = root / "journal.txt"
        self.events: dict[str, list[str]] = {}
        self._writes: dict[str, int] = {}
        self._calls = 0

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def journal(self, what: str, records: Sequence[str] = ()) -> None:
        """One line of ``journal.txt`` (real time, virtual time, what happened), also kept with
        each record it touched, for the report of a record that went wrong."""
        real = datetime.now(timezone.utc)
        line = f"{real:%H:%M:%S}.{real.microsecond // 1000:03d} {iso(real + self.offset)} {what}"
        with open(self.journal_path, "a", encoding="utf-8") as journal:
            journal.write(line + "\n")
        for record_id in records:
            self.events.setdefault(record_id, []).append(line)

    def _did(self, done: Did) -> None:
        records, what = done
        self.journal(what, records)

    # --- the run ------------------------------------------------------------------------------

    def run(self) -> Report:
        started = time.monotonic()
        deadline = started + self.size.minutes * 60 if self.size.minutes else None
        last_check = 0.0
        try:
            self.log(f"{self.crm.name}: seed {self.seed} (CONVERGENCE_SEED={self.seed} replays), "
                     f"{self.crm.live_count()} live records, work in {self.root}")
            self.journal(f"{self.crm.name}: seed {self.seed}, {self.crm.live_count()} live records, {self.size}")
            self._first_pass()
            last_check = self.check()
            steps = 0
            while True:
                if self.size.operations is not None and steps >= self.size.operations:
                    break
                if deadline is not None and time.monotonic() + last_check + 2 * max(self.durations.values()) > deadline:
                    break
                self.step()
                steps += 1
                if steps % self.size.check_every == 0:
                    last_check = self.check()
            if steps % self.size.check_every:
                self.check()
        finally:
            self.crm.clear_faults()
            self.runner.close()
            self.report.faults_served = self.crm.faults_served()
            self.report.offset = self.offset
            self.report.seconds = time.monotonic() - started
        return self.report

    def _first_pass(self) -> None:
        """``setup``, then a full first pass (a backfill, or a first sync), with no faults."""
        self._command_ok(self.runner.run("setup", timeout=self.size.command_timeout), "setup")
        kind = _pick(self.rng, ("backfill", "sync"))
        self.report.operations[kind] += 1
        first = self.runner.run(*self._args(kind, self.now()), timeout=self.size.command_timeout)
        self._command_ok(first, "first pass")

    def step(self) -> None:
        while True:
            kind = _weighted(self.rng, OPERATIONS)
            if self._possible(kind):
                break
        if kind in RECORD_OPS:
            self._record_op(kind)
        else:
            getattr(self, f"_op_{kind}")()

    def _possible(self, kind: str) -> bool:
        if kind == "delete":
            return self.crm.deleted_count() < max(2, self.size.records // 20) and self.crm.live_count() > 10
        if kind == "restore":
            return self.crm.deleted_count() > 0
        if kind == "convert":
            return self.crm.can_convert()
        return True

    # --- what happens in the CRM ------------------------------------------------------------------

    def _op_edit(self) -> None:
        count = self.rng.randint(1, max(4, self.size.records // 50))
        for _ in range(count):
            self._did(self.crm.edit(self.rng))
        self.report.operations["edit"] += 1
        self.report.operations["records edited"] += count

    def _op_activity(self) -> None:
        count = self.rng.randint(1, max(3, self.size.records // 75))
        for _ in range(count):
            # Logged a little before the (virtual) now: never after it.
            self._did(self.crm.log_activity(self.rng, self.now() - timedelta(seconds=self.rng.randint(30, 4 * 3600))))
        self.report.operations["activity"] += 1
        self.report.operations["activities logged"] += count

    def _record_op(self, kind: str) -> None:
        """A record created, deleted, restored or (Salesforce) converted: the CRM's method of that name."""
        self._did(getattr(self.crm, kind)(self.rng))
        self.report.operations[kind] += 1

    def _op_clock(self) -> None:
        names = [name for name, _, _ in CLOCK_STEPS]
        index = self.rng.choices(range(len(CLOCK_STEPS)), weights=[w for _, _, w in CLOCK_STEPS])[0]
        step = CLOCK_STEPS[index][1](self.rng)
        self.offset += step
        self.report.operations[f"clock +{names[index]}"] += 1
        self.journal(f"clock +{step}")

    # --- what the agent does ----------------------------------------------------------------------

    def _op_sync(self) -> None:
        self._agent("sync")

    def _op_rescore(self) -> None:
        self._agent("rescore")

    def _op_backfill(self) -> None:
        self._agent("backfill")

    @staticmethod
    def _args(kind: str, as_of: datetime) -> list[str]:
        return [kind, "--as-of", iso(as_of)]

    def _agent(self, kind: str) -> None:
        """One agent command, maybe under faults, maybe killed part-way. Every draw is made before
        it starts, so the schedule does not depend on how it went."""
        rng = self.rng
        faulted = rng.random() < self.size.fault_share
        level = _pick(rng, ("light", "light", "moderate", "storm"))
        fault_seed = rng.randrange(1, 2**30)
        burst = rng.random() < 0.3
        burst_at, burst_for = rng.uniform(0.1, 0.9), rng.uniform(0.5, 1.5)
        killed = rng.random() < self.size.kill_share
        kill_at = rng.uniform(0.15, 1.1)
        typical = self.durations[kind]
        plan: dict[str, Any] | None = None
        if faulted:
            error_rate, drop_rate, latency = FAULT_LEVELS[level]
            plan = {"error_rate": error_rate, "drop_rate": drop_rate, "latency": latency, "seed": fault_seed}
        stop = threading.Event()
        burster = None
        if plan is not None:
            self.crm.set_faults(**plan)
            self.report.operations[f"faults ({level})"] += 1
            if burst:
                self.report.operations["timeout bursts"] += 1
                burster = threading.Thread(target=self._burst, args=(plan, burst_at * typical, burst_for, stop),
                                           daemon=True)
                burster.start()
        try:
            done = self.runner.run(*self._args(kind, self.now()), timeout=self.size.command_timeout,
                                   kill_after=kill_at * typical if killed else None)
        finally:
            stop.set()
            if burster is not None:
                burster.join()
            self.crm.clear_faults()
        how = (f"{f' under {level} faults' if plan else ''}{' with a timeout burst' if burster else ''}"
               f"{f' kill -9 planned at {kill_at * typical:.1f}s' if killed else ''}")
        self.journal(f"{' '.join(done.args)}{how} -> {'SIGKILL' if done.killed else done.code} "
                     f"after {done.seconds:.1f}s ({done.stderr.name})")
        self.report.operations[kind] += 1
        if done.killed:
            self.report.operations["kill -9"] += 1
            self.report.exits[f"{kind} killed"] += 1
            return
        self.report.exits[f"{kind} {done.code if done.code is not None else 'hung'}"] += 1
        if done.code is None:
            self.report.problems.append(f"{kind} hung past {self.size.command_timeout}s:\n{done.tail()}")
        elif done.code == 0:
            self.durations[kind] = 0.7 * typical + 0.3 * done.seconds
        elif done.code == 2:
            self.report.notes[f"{kind} under {level + ' faults' if plan else 'no faults'} exited 2 (a person must "
                              f"fix): {done.tail(3)}"] += 1

    def _burst(self, plan: Mapping[str, Any], after: float, length: float, stop: threading.Event) -> None:
        """Latency past the client's read timeout for a moment: the requests in flight time out
        (the server still applies them after the wait: a write's outcome is unknown to the client)."""
        if stop.wait(after):
            return
        self.crm.set_faults(**{**plan, "latency": READ_TIMEOUT + 0.5})
        stop.wait(length)
        if not stop.is_set():
            self.crm.set_faults(**plan)

    def _command_ok(self, done: Finished, what: str) -> bool:
        self.journal(f"{' '.join(done.args)} ({what}) -> {done.code} after {done.seconds:.1f}s ({done.stderr.name})")
        self.report.exits[f"{done.args[0]} {done.code if done.code is not None else 'hung'}"] += 1
        if done.code == 0:
            return True
        self.report.problems.append(f"{what}: leadscore {' '.join(done.args)} exited {done.code} with no faults "
                                    f"injected:\n{done.tail()}")
        return False

    # --- the quiescent point and the invariant --------------------------------------------------------

    def check(self) -> float:
        """Faults off, ``rescore`` and ``sync`` as of the virtual now, then the invariant. Returns
        the seconds it took."""
        started = time.monotonic()
        self.crm.clear_faults()
        as_of = self.now()
        result = CheckResult(len(self.report.checks), as_of, self.offset)
        for kind in ("rescore", "sync"):
            self._command_ok(self.runner.run(*self._args(kind, as_of), timeout=self.size.command_timeout),
                             f"check {result.index}, quiescent")
        expected, pull_note = self._expected(as_of)
        held = self.crm.held()
        for record_id, holding in sorted(held.items()):
            want = expected.get(record_id)
            if want is None:
                result.unread.append(record_id)
                continue
            result.checked += 1
            history = tuple(self.events.get(record_id, ()))
            if holding.values.score is None:
                result.missed.append(Mismatch(record_id, holding.object_type, want, holding.values, history))
            elif holding.values.key() != want.key():
                result.wrong.append(Mismatch(record_id, holding.object_type, want, holding.values, history))
            if self._held.get(record_id) != want.key():
                result.floor += 1
        # A record deleted since keeps what it held then: restored, it needs no write if that is still right.
        self._held.update({record_id: h.values.key() for record_id, h in held.items()})
        writes, calls = self.crm.value_writes(), self.crm.write_calls()
        # Every record write carries its reason (the diff sends it with any change; all values on a
        # first write or a retry), save an empty one in a Bulk CSV: the busiest value counts them.
        result.record_writes = max(n - self._writes.get(value, 0) for value, n in writes.items())
        result.write_calls = calls - self._calls
        self._writes, self._calls = writes, calls
        extra = sorted(set(expected) - set(held))
        if extra:
            self.report.notes[f"check {result.index}: a full pull returned {len(extra)} records that are not "
                              f"live in the CRM, e.g. {extra[:5]}"] += 1
        if pull_note:
            self.report.notes[f"check {result.index}: {pull_note}"] += 1
        result.seconds = time.monotonic() - started
        self.report.checks.append(result)
        self.journal(result.line(), [m.record_id for m in result.wrong + result.missed])
        self.log(f"{self.crm.name}: {result.line()}")
        return result.seconds

    def _expected(self, as_of: datetime) -> tuple[dict[str, Values], str]:
        """The oracle: a fresh connector's full pull of every record (every field and activity
        type, and the accounts), scored as of ``as_of`` by the models built from the agent's config:
        each person with its account's fields as the CRM holds them now (``account.*``), each
        account from its fields, its people's activities and its people's results. Independent of
        the agent's mirror, where the agent joins them."""
        connector = self.crm.connector()
        leads: dict[str, Any] = {}
        accounts: dict[str, Any] = {}
        activities: list[Any] = []
        duplicates = 0
        account_type = getattr(connector, "account_type", None)
        try:
            if account_type is not None:
                for batch in connector.pull(Cursor(account_type, None), until=None, needs=None):
                    accounts.update({a.id: a for a in batch.leads})
            for object_type in connector.object_types:
                for batch in connector.pull(Cursor(object_type, None), until=None, needs=None):
                    for lead in batch.leads:
                        duplicates += lead.id in leads
                        leads[lead.id] = lead
                    activities.extend(batch.activities)
        finally:
            connector.close()
        by_lead = group_by_lead(activities)
        expected: dict[str, Values] = {}
        people: dict[str, list[tuple[Any, Any]]] = {}
        for lead in leads.values():
            account = accounts.get(lead.account_id) if lead.account_id else None
            if account is not None:
                lead = replace(lead, fields={**lead.fields, **{f"account.{k}": v for k, v in account.fields.items()}})
            result = self.scorer.score(lead, by_lead.get(lead.id, ()), as_of)
            expected[lead.id] = Values(result.score, result.stage, result.reason(self.reason_budget))
            if lead.account_id:
                people.setdefault(lead.account_id, []).append((lead, result))
        score_account = getattr(self.scorer, "score_account", None)
        for account in accounts.values() if score_account is not None else ():
            members = people.get(account.id, [])
            pooled = [a for lead, _ in members for a in by_lead.get(lead.id, ())]
            result = score_account(account, pooled, as_of, [r for _, r in members])
            if result is not None:
                expected[account.id] = Values(result.score, result.stage, result.reason(self.reason_budget))
        note = f"a full pull returned {duplicates} records twice" if duplicates else ""
        return expected, note


def run_world(crm_name: str, root: Path, *, seed: int, size: WorldSize = CI_SIZE,
              log: Callable[[str], None] = lambda line: None) -> Report:
    """Build the CRM (seeded from ``seed``), run its world, stop it; the report."""
    crm = CRMS[crm_name](size.records, seed % 100_000 + 1, size)
    try:
        return World(crm, root, seed, size, log=log).run()
    finally:
        crm.stop()


# --- the soak ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convergence soak: a larger randomised world per CRM for SOAK_MINUTES (default 30), "
                    "split between the CRMs; prints operations, records checked, wrong, missed, writes over "
                    "the floor and the seed.")
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES") or 30))
    parser.add_argument("--records", type=int, default=SOAK_SIZE.records)
    parser.add_argument("--crm", choices=("both", *CRMS), default="both")
    parser.add_argument("--seed", type=int, default=None, help="default: CONVERGENCE_SEED, else a fresh one")
    parser.add_argument("--check-every", type=int, default=SOAK_SIZE.check_every)
    parser.add_argument("--workdir", type=Path, default=None, help="keep agent logs and state here")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else convergence_seed()
    crms = list(CRMS) if args.crm == "both" else [args.crm]
    size = replace(SOAK_SIZE, records=args.records, minutes=args.minutes / len(crms), check_every=args.check_every)
    _quiet_logs()
    print(f"convergence soak: {', '.join(crms)}, {args.records:,} records each, {args.minutes:g} minutes, "
          f"seed {seed} (CONVERGENCE_SEED={seed} replays)", flush=True)
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="leadscore-soak-") as tmp:
        base = args.workdir or Path(tmp)
        try:
            for name in crms:
                reports.append(run_world(name, base / name, seed=seed, size=size,
                                         log=lambda line: print(f"  {line}", flush=True)))
                print(reports[-1].render(), flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        ok = bool(reports) and all(r.ok for r in reports)
        operations = Counter[str]()
        for report in reports:
            operations.update(report.operations)
        print("\nsoak total: " + ("OK" if ok else "FAILED") + f" - seed {seed}")
        print("  operations: " + ", ".join(f"{k} {v}" for k, v in sorted(operations.items())))
        print(f"  records checked {sum(r.checked for r in reports):,}, wrong {sum(r.wrong for r in reports)}, "
              f"missed {sum(r.missed for r in reports)}, extra writes over the floor "
              f"{sum(r.extra_writes for r in reports):+d}")
        if not ok and args.workdir is None:
            print("  (rerun with --workdir DIR to keep the agent's logs and state)")
    return 0 if ok else 1


def _quiet_logs() -> None:
    from leadscore.agent.logs import configure_logging

    configure_logging("console", "error")


if __name__ == "__main__":
    sys.exit(main())
