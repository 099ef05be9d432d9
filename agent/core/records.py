"""The shared vocabulary: what flows from connectors into the engine and out again.

Connectors translate CRM records into these shapes and never score; the engine scores these
shapes and never knows which CRM they came from. Keeping the seam this small is what lets one
scoring model serve HubSpot, Salesforce and any third-party connector unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from leadscore.agent.core.reasons import ReasonPart, format_reason

#: Lead fields every connector maps its CRM fields onto. A connector may add others under
#: the ``custom.`` prefix (for example ``custom.hs_analytics_num_visits``).
CANONICAL_FIELDS: frozenset[str] = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "title",
        "company",
        "industry",
        "country",
        "state",
        "city",
        "employees",
        "annual_revenue",
        "lead_source",
        "phone",
        "website",
        # BANT qualification
        "budget",
        "authority",
        "need",
        "timeline",
        # engagement summaries some CRMs keep on the record (HubSpot's analytics properties)
        "page_views",
        "visits",
        "last_visit_at",
        "email_opens",
        "email_clicks",
        "form_submissions",
    }
)

#: Fields whose values are numbers. Text like ``"1,200"`` is accepted; text that is not a
#: number is reported on the result and treated as missing.
NUMERIC_FIELDS: frozenset[str] = frozenset(
    {"employees", "annual_revenue", "page_views", "visits", "email_opens", "email_clicks", "form_submissions"}
)

CUSTOM_PREFIX = "custom."

#: A person's fit rules read their account's fields under this prefix (``account.industry``): the
#: agent joins them from the mirrored account (:attr:`Lead.account_id`) when it scores the person,
#: so an account edited in the CRM rescores its people even where the CRM does not stamp them.
ACCOUNT_PREFIX = "account."

#: Canonical fields of an account record (a HubSpot company, a Salesforce Account). ``company`` is
#: the account's name. An account's rules test these; a person's test them as ``account.<name>``.
ACCOUNT_FIELDS: frozenset[str] = frozenset(
    {"company", "industry", "employees", "annual_revenue", "country", "state", "city", "website", "phone",
     "lead_source", "type"}
)


class ActivityType(StrEnum):
    """Canonical activity types. Connectors map CRM engagement onto these."""

    EMAIL_OPEN = "email_open"
    EMAIL_CLICK = "email_click"
    EMAIL_REPLY = "email_reply"
    EMAIL_BOUNCE = "email_bounce"
    UNSUBSCRIBE = "unsubscribe"
    PAGE_VIEW = "page_view"  # property: url
    CONTENT_DOWNLOAD = "content_download"  # properties: asset, source
    FORM_SUBMIT = "form_submit"
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"
    EVENT_ATTENDED = "event_attended"
    DEMO_REQUEST = "demo_request"
    TRIAL_SIGNUP = "trial_signup"
    MEETING = "meeting"
    CALL = "call"


ACTIVITY_TYPES: frozenset[str] = frozenset(t.value for t in ActivityType)


def is_known_field(name: str) -> bool:
    if name.startswith(ACCOUNT_PREFIX):
        inner = name[len(ACCOUNT_PREFIX):]
        return inner in ACCOUNT_FIELDS or (inner.startswith(CUSTOM_PREFIX) and len(inner) > len(CUSTOM_PREFIX))
    return (name in CANONICAL_FIELDS or name in ACCOUNT_FIELDS
            or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX)))


def is_known_activity_type(name: str) -> bool:
    return name in ACTIVITY_TYPES or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive datetimes are taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


#: A CRM object type, named by the connector that reads it (``"lead"``, ``"contact"``, a Pipedrive
#: connector's ``"person"``): an open name, not a closed list, so a new CRM needs no change here.
ObjectType = str


class Unusable(NamedTuple):
    """A value a connector read but could not use as it was: which field (the CRM's own name,
    e.g. ``hs_email_last_click_date`` or ``calls.hs_timestamp``) and why, in a few words. Never
    the value itself, which may be huge or personal. The value was dropped, cut or cleaned; the
    record is scored with the rest, and the run counts it ``warned``."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


#: The ``field`` of an :class:`Unusable` saying the record as a whole could not be read (its
#: values are not there at all): the pipeline counts it ``bad`` and neither scores, writes nor
#: mirrors it, so a score computed from nothing never reaches the CRM.
WHOLE_RECORD = "*"

#: The longest text value kept, in characters: HubSpot's limit for a string property (65,536),
#: and half Salesforce's largest Long Text Area (131,072). A longer value is cut to this many
#: characters (rules on its start still see it) and reported; a mirror row stays small.
MAX_TEXT_CHARS = 65_536

#: C0 control characters other than tab, line feed and carriage return (NUL among them, which
#: PostgreSQL refuses in text and JSON), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Lone UTF-16 surrogates (a JSON ``"\ud800"``): they cannot be encoded as UTF-8, so no store,
#: log line or CRM write could take them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def usable_value(value: Any) -> tuple[Any, str | None]:
    """``value`` as it can be scored and stored, and why it was changed (None when it was not).

    Text loses NUL and other control characters, has invalid Unicode replaced (U+FFFD) and is
    cut to :data:`MAX_TEXT_CHARS`; numbers that are not finite (NaN, infinity, ``1e309`` read as
    a float) or too large for a float are dropped (None); so are nested objects and lists, which
    no rule can test. Never raises. Strings, whole numbers, finite floats, booleans and None
    pass unchanged; so does an emoji, which is text like any other.
    """
    if value is None or isinstance(value, bool):
        return value, None
    if isinstance(value, str):
        return _usable_text(value)
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return None, "number out of range (dropped)"
        return value, None
    if isinstance(value, float):
        return (value, None) if math.isfinite(value) else (None, "not a finite number (dropped)")
    if isinstance(value, Decimal):
        return (value, None) if value.is_finite() else (None, "not a finite number (dropped)")
    if isinstance(value, datetime):
        return value, None
    if isinstance(value, (bytes, bytearray)):
        text, _ = _usable_text(bytes(value[: MAX_TEXT_CHARS * 4]).decode("utf-8", "replace"))
        return text, "binary value read as UTF-8 text (cleaned)"
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return None, f"a nested {type(value).__name__}, not a single value (dropped)"
    return None, f"a {type(value).__name__}, not a value (dropped)"


def _usable_text(text: str) -> tuple[str, str | None]:
    reasons: list[str] = []
    if len(text) > MAX_TEXT_CHARS:
        reasons.append(f"{len(text):,} characters, cut to {MAX_TEXT_CHARS:,}")
        text = text[:MAX_TEXT_CHARS]
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
        reasons.append("invalid Unicode replaced")
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
        reasons.append("control characters (NUL...) removed")
    return text, "; ".join(reasons) or None


def usable_fields(values: Mapping[str, Any], names: Mapping[str, str] | None = None) -> tuple[dict[str, Any], list[Unusable]]:
    """Each value of ``values`` through :func:`usable_value`; a value that becomes None or
    empty is left out. ``names`` maps a key of ``values`` to the field name problems report
    (the CRM's own name); by default the key itself. Also flags text in a numeric canonical
    field that is not a finite number (kept: the engine treats it as missing where a number is
    tested)."""
    kept: dict[str, Any] = {}
    problems: list[Unusable] = []
    for key, raw in values.items():
        value, reason = usable_value(raw)
        shown = (names or {}).get(key, key)
        if reason is None and key in NUMERIC_FIELDS and _not_a_number(value):
            reason = "not a number (read as missing where a number is tested)"
        if reason is not None:
            problems.append(Unusable(shown, reason))
        if value is not None and value != "":
            kept[key] = value
    return kept, problems


def _not_a_number(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, str) and not _is_number_text(value))


def _is_number_text(text: str) -> bool:
    """Whether ``text`` reads as a finite number the way the engine reads numbers (``1,200``;
    see :func:`agent.scoring.conditions.number_value`), or is blank (missing, not bad)."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not cleaned:
        return True
    try:
        return math.isfinite(float(cleaned))
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Lead:
    """A CRM lead or contact, normalised onto canonical field names.

    ``fields`` holds raw values as the connector read them (strings, numbers or ``None``);
    the engine coerces per condition, so a bad value spoils one rule, never the record.
    ``problems`` names the values the connector could not use (dropped, cut or cleaned; see
    :class:`Unusable`): the record is still scored, and counted ``warned``. Not mirrored: a
    rescore from the mirror scores the cleaned values and reports only the engine's warnings.
    """

    id: str
    object_type: ObjectType = "lead"
    fields: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    problems: tuple[Unusable, ...] = ()
    #: The id of the person's account in the same CRM (a Salesforce Contact's ``AccountId``, a
    #: HubSpot contact's primary company, ``associatedcompanyid``); None for a Salesforce Lead, a
    #: person with no account, and an account itself.
    account_id: str | None = None

    @property
    def unreadable(self) -> bool:
        """The connector could not read this record at all (see :data:`WHOLE_RECORD`)."""
        return any(p.field == WHOLE_RECORD for p in self.problems)


def unreadable_lead(record_id: Any, object_type: ObjectType, error: BaseException | str) -> Lead:
    """The stand-in for a record a connector could not read at all: its id and why. Counted
    ``bad`` by the pipeline, never scored, written or mirrored."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {str(error)[:200]}"
    text, _ = usable_value(str(record_id))
    return Lead(id=str(text)[:255], object_type=object_type, problems=(Unusable(WHOLE_RECORD, f"record unreadable ({reason})"),))


@dataclass(frozen=True, slots=True)
class Activity:
    """One engagement event of a lead, e.g. a page view with ``properties={"url": ...}``."""

    lead_id: str
    type: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


def group_by_lead(activities: Mapping[str, Sequence[Activity]] | Iterable[Activity]) -> Mapping[str, Sequence[Activity]]:
    """Activities by lead id (already grouped activities pass through), the shape the engine's
    ``score_all`` and the trainers take."""
    if isinstance(activities, Mapping):
        return activities
    grouped: dict[str, list[Activity]] = {}
    for activity in activities:
        grouped.setdefault(activity.lead_id, []).append(activity)
    return grouped


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """What the engine says about one lead at one instant, under one model version."""

    lead_id: str
    score: int
    fit_score: int
    engagement_score: int
    stage: str
    grade: str | None
    reasons: tuple[ReasonPart, ...]
    model_version: str
    as_of: datetime
    warnings: tuple[str, ...] = ()
    #: A reason line already rendered, with its budget: the batch engine renders a whole batch's
    #: lines at once (not part of the result's value).
    rendered: tuple[int, str] | None = field(default=None, compare=False, repr=False)

    def reason(self, budget: int = 255) -> str:
        """The human-readable reason, within ``budget`` characters (255 fits Salesforce text)."""
        if self.rendered is not None and self.rendered[0] == budget:
            return self.rendered[1]
        return format_reason(self.reasons, budget)

    def line(self, budget: int = 255) -> ScoreLine:
        """What a record carries of this result, its reason line within ``budget`` characters."""
        return ScoreLine(self.lead_id, self.score, self.fit_score, self.engagement_score, self.stage, self.grade,
                         self.reason(budget), self.model_version, self.as_of, self.warnings)


class ScoreLine(NamedTuple):
    """A score as a CRM record carries it: a :class:`ScoreResult`'s values, with its reason as
    one line already cut to a budget, and not the parts behind the line.

    What the sync writes and diffs. A batch makes these straight from its arrays
    (:meth:`~leadscore.agent.scoring.batch.BatchResults.lines`): a nightly rescore of a million
    leads, most of them unchanged, then never builds the dozen reason parts of each.
    """

    lead_id: str
    score: int
    fit_score: int
    engagement_score: int
    stage: str
    grade: str | None
    reason: str
    model_version: str
    as_of: datetime
    warnings: tuple[str, ...] = ()


class OutcomeKind(StrEnum):
    """What a CRM says became of a lead: a small closed set, so every connector reports alike.

    ``converted`` and ``won`` are the positive labels a trainer learns from; ``lost`` and
    ``disqualified`` the negative ones; ``open`` means nothing is decided (any more)."""

    #: The lead itself converted: a Salesforce Lead converted, a HubSpot contact reached a
    #: lifecycle stage the admin counts as converted (customer, evangelist).
    CONVERTED = "converted"
    #: A deal or opportunity of the record closed won (``Outcome.amount``, ``Outcome.source_id``).
    WON = "won"
    #: A deal or opportunity of the record closed lost.
    LOST = "lost"
    #: Sales ruled the lead out: a lead status the admin maps to disqualified.
    DISQUALIFIED = "disqualified"
    #: Nothing decided (yet, or any more): a deal or opportunity of the record that is open. It
    #: replaces an earlier outcome of the same record and deal (a won deal reopened).
    OPEN = "open"

    @property
    def positive(self) -> bool:
        """Whether this outcome is a conversion, as a training label."""
        return self in (OutcomeKind.CONVERTED, OutcomeKind.WON)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one CRM record, and when: a training label. ``occurred_at`` lets the
    trainer snapshot features from before the outcome, so the label never leaks into them.

    ``kind`` says what happened (:class:`OutcomeKind`); ``converted`` is its label (True for
    converted and won). Built from a label alone (a CSV of ``lead_id,converted``), the kind
    follows it: converted, else lost when dated, else open. A deal or opportunity is named by
    ``source_id`` (its CRM id), with its ``amount`` and when it was created (``started_at``: what
    was known of it before it closed); an outcome of the record itself (a conversion, a lead
    status) has no ``source_id``. ``estimated``: the CRM keeps no date for it (a lead status), so
    ``occurred_at`` is the record's modification stamp when the outcome was seen, an upper bound;
    the state store keeps the earliest one seen.
    """

    lead_id: str
    object_type: ObjectType
    converted: bool
    occurred_at: datetime | None = None
    detail: str | None = None
    kind: OutcomeKind = None  # type: ignore[assignment]  # set from ``converted`` when not given
    amount: float | None = None
    source_id: str | None = None
    estimated: bool = False
    started_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.kind is None:
            derived = OutcomeKind.CONVERTED if self.converted else OutcomeKind.LOST if self.occurred_at else OutcomeKind.OPEN
            object.__setattr__(self, "kind", derived)
            return
        kind = OutcomeKind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind.positive != bool(self.converted):
            raise ValueError(f"an outcome of kind {kind.value} has converted={kind.positive}, not {self.converted}")

    @classmethod
    def of(
        cls,
        kind: OutcomeKind | str,
        lead_id: str,
        object_type: ObjectType,
        occurred_at: datetime | None = None,
        *,
        amount: float | None = None,
        source_id: str | None = None,
        detail: str | None = None,
        estimated: bool = False,
        started_at: datetime | None = None,
    ) -> Outcome:
        """An outcome of ``kind``, its label taken from the kind (how connectors build them)."""
        kind = OutcomeKind(kind)
        return cls(lead_id, object_type, kind.positive, occurred_at, detail, kind, amount, source_id, estimated,
                   started_at)
