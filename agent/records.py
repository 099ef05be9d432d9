"""The shared vocabulary: what flows from connectors into the engine and out again.

Connectors translate CRM records into these shapes and never score; the engine scores these
shapes and never knows which CRM they came from. Keeping the seam this small is what lets one
scoring model serve HubSpot, Salesforce and any third-party connector unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Iterable, Literal, Mapping, NamedTuple, Sequence

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
    return name in CANONICAL_FIELDS or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


def is_known_activity_type(name: str) -> bool:
    return name in ACTIVITY_TYPES or (name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX))


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime; naive datetimes are taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


ObjectType = Literal["lead", "contact"]


@dataclass(frozen=True, slots=True)
class Lead:
    """A CRM lead or contact, normalised onto canonical field names.

    ``fields`` holds raw values as the connector read them (strings, numbers or ``None``);
    the engine coerces per condition, so a bad value spoils one rule, never the record.
    """

    id: str
    object_type: ObjectType = "lead"
    fields: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None


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


ReasonKind = Literal["fit", "engagement", "cap", "gate"]


class ReasonPart(NamedTuple):
    """One signed contribution to a score. The parts of a result sum exactly to its score.

    ``kind="cap"`` parts are the adjustments made by a rule, group or total cap; ``kind="gate"``
    parts carry zero points and say why a stage was withheld (e.g. a missing BANT criterion).
    A NamedTuple rather than a frozen dataclass: as immutable, and about 2.5x cheaper to build,
    which matters at a dozen parts per lead and a million leads a minute.
    """

    points: int
    label: str
    kind: ReasonKind
    rule: str | None = None
    detail: str | None = None
    component: Literal["fit", "engagement", "total"] = "total"

    def render(self) -> str:
        text = self.label if self.kind == "gate" else f"{self.points:+d} {self.label}"
        return f"{text} ({self.detail})" if self.detail else text


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

    def reason(self, budget: int = 255) -> str:
        """The human-readable reason, within ``budget`` characters (255 fits Salesforce text)."""
        from agent.scoring.reasons import format_reason

        return format_reason(self.reasons, budget)
