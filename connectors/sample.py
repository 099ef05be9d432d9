"""Generated demo data: plausible B2B leads with engagement histories.

Deterministic for a seed, so the demo, the benchmarks and (later) the CRM emulators all see the
same population. Each lead draws an "interest" level that drives how much it engages, which gives
the long-tailed score distribution real funnels have: most leads cold, a few hot. A small share of
leads carries messy values (blank, ``'n/a'`` in a numeric field), as real CRM exports do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator

from leadscore.agent.core.records import Activity, Lead

FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Elena", "Farah", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lena",
               "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Victor", "Wen", "Yusuf", "Zoe")
LAST_NAMES = ("Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kumar",
              "Lopez", "Müller", "Nakamura", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Novak", "Wright", "Zhang")
COMPANIES = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
             "Cyberdyne", "Wonka", "Aperture", "Massive", "Pied Piper", "Gringotts", "Oscorp", "Monarch", "Nakatomi")
INDUSTRIES = (("Technology", 18), ("Software", 6), ("Healthcare", 12), ("Education", 10), ("Finance", 16),
              ("Retail", 14), ("Manufacturing", 14), ("Government", 10))
TITLES = (("CEO", 4), ("CTO", 4), ("VP Sales", 5), ("VP Engineering", 4), ("Head of Marketing", 4), ("Founder", 3),
          ("Marketing Manager", 12), ("Director of IT", 8), ("Engineering Manager", 8), ("Software Engineer", 15),
          ("Analyst", 12), ("Student", 8), ("Consultant", 8), ("Intern", 5))
COUNTRIES = (("United States", 35), ("Canada", 6), ("United Kingdom", 10), ("Germany", 8), ("France", 6),
             ("Netherlands", 3), ("India", 12), ("Brazil", 6), ("Australia", 5), ("Japan", 4), ("Nigeria", 3), ("Mexico", 2))
CITIES = ("Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton", "Fairview", "Salem", "Madison")
SOURCES = ("Organic Search", "Paid Search", "Referral", "Webinar", "Trade Show", "Content Syndication", "Direct")
FREE_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com")
BLOG_POSTS = ("lead-scoring-101", "mql-vs-sql", "decay-explained", "crm-hygiene", "revops-metrics", "intent-data")
ASSETS = ("product-datasheet", "pricing-guide", "ebook-revops", "whitepaper-scoring", "case-study-acme")

# (activity type, weight) for an engaged lead's activity mix.
ACTIVITY_MIX = (
    ("email_open", 30), ("email_click", 10), ("page_view", 30), ("content_download", 6), ("form_submit", 4),
    ("webinar_registered", 3), ("webinar_attended", 2), ("event_attended", 1), ("demo_request", 1),
    ("trial_signup", 1), ("meeting", 2), ("call", 2), ("email_reply", 2), ("email_bounce", 1), ("unsubscribe", 1),
)


@dataclass(frozen=True)
class SampleLead:
    lead: Lead
    activities: tuple[Activity, ...]


def _pick(rng: random.Random, weighted: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _properties(rng: random.Random, kind: str) -> dict[str, str]:
    if kind == "page_view":
        roll = rng.random()
        if roll < 0.15:
            return {"url": "https://example.com/pricing"}
        if roll < 0.6:
            return {"url": f"https://example.com/blog/{rng.choice(BLOG_POSTS)}"}
        return {"url": rng.choice(("https://example.com/", "https://example.com/product", "https://example.com/about"))}
    if kind == "content_download":
        return {"asset": rng.choice(ASSETS), "source": rng.choice(("email", "web", "web", "paid"))}
    if kind in ("email_open", "email_click", "email_reply", "email_bounce", "unsubscribe"):
        return {"campaign": rng.choice(("newsletter", "nurture-1", "nurture-2", "launch"))}
    if kind == "form_submit":
        return {"form": rng.choice(("contact-us", "newsletter", "gated-content"))}
    return {}


def generate_leads(
    count: int,
    *,
    seed: int = 7,
    as_of: datetime | None = None,
    activities_per_lead: int | None = None,
    max_age_days: int = 365,
) -> Iterator[SampleLead]:
    """Yield ``count`` generated leads with activities up to ``max_age_days`` before ``as_of``.

    ``activities_per_lead`` fixes the count (benchmarks); otherwise it follows the lead's interest.
    """
    rng = random.Random(seed)
    as_of = as_of or datetime(2026, 11, 1, tzinfo=timezone.utc)
    for n in range(count):
        lead_id = f"L{n + 1:07d}"
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        company = rng.choice(COMPANIES)
        domain = rng.choice(FREE_DOMAINS) if rng.random() < 0.25 else company.lower().replace(" ", "") + ".com"
        interest = rng.random() ** 3  # most leads barely engage
        fields: dict[str, object] = {
            "email": f"{first.lower()}.{last.lower()}{n}@{domain}",
            "first_name": first,
            "last_name": last,
            "title": _pick(rng, TITLES),
            "company": company,
            "industry": _pick(rng, INDUSTRIES),
            "country": _pick(rng, COUNTRIES),
            "city": rng.choice(CITIES),
            "employees": rng.choice((5, 20, 80, 250, 1200, 5000, 20000)),
            "annual_revenue": rng.choice((250_000, 2_000_000, 15_000_000, 120_000_000, 900_000_000)),
            "lead_source": rng.choice(SOURCES),
        }
        if rng.random() < 0.03:
            fields["employees"] = rng.choice(("n/a", "", "unknown", "lots"))
        if rng.random() < 0.02:
            fields["industry"] = None
        if interest > 0.3:  # sales has talked to engaged leads; the keener, the more BANT holds
            def answer(good: tuple[str, ...], bad: tuple[str, ...]) -> str:
                return rng.choice(good) if rng.random() < 0.4 + interest / 2 else rng.choice(bad)

            fields["budget"] = answer(("yes", "50000", "approved"), ("no", ""))
            fields["authority"] = answer(("yes", "decision maker"), ("no", ""))
            fields["need"] = answer(("high", "medium", "yes"), ("low",))
            fields["timeline"] = answer(("this quarter", "next quarter"), ("12+ months", "unknown"))
        created = as_of - timedelta(days=rng.uniform(1, max_age_days), seconds=rng.randint(0, 86399))
        lead = Lead(id=lead_id, object_type="lead", fields=fields, created_at=created, updated_at=created)

        if activities_per_lead is not None:
            how_many = activities_per_lead
        else:
            how_many = int(interest * 30) + (1 if rng.random() < 0.5 else 0)
        span = max(1.0, (as_of - created).total_seconds())
        activities = []
        for _ in range(how_many):
            kind = _pick(rng, ACTIVITY_MIX)
            occurred = as_of - timedelta(seconds=rng.uniform(0, span) * (rng.random() ** (1 + interest)))
            activities.append(Activity(lead_id, kind, occurred.replace(microsecond=0), _properties(rng, kind)))
        activities.sort(key=lambda a: a.occurred_at)
        yield SampleLead(lead, tuple(activities))


# --- accounts --------------------------------------------------------------------------------

#: Offices that tell apart the accounts sharing a company name ("Acme Bristol", "Acme Salem").
OFFICES = CITIES + ("Austin", "Leeds", "Lyon", "Pune", "Osaka", "Recife", "Perth", "Lagos", "Monterrey", "Graz")
ACCOUNT_TYPES = (("Prospect", 70), ("Customer - Direct", 15), ("Partner", 5), ("Other", 10))


@dataclass(frozen=True)
class SampleAccount:
    """A generated account (company) and the generated leads working there."""

    account: Lead
    members: tuple[str, ...]


def generate_accounts(samples: Iterable[SampleLead], *, seed: int = 7, people_per_account: float = 4.0) -> list[SampleAccount]:
    """Accounts for ``samples``: the leads with a company email domain (free-mail addresses name
    no employer) are spread over accounts of about ``people_per_account`` people, each account
    with its own firmographics. Deterministic for a seed, and drawn from its own random stream, so
    adding accounts leaves the leads exactly as :func:`generate_leads` makes them. Account ids are
    ``A0000001``...; ``Lead.object_type`` is ``"account"`` and ``company`` holds the name."""
    rng = random.Random(f"accounts:{seed}")
    samples = list(samples)
    by_company: dict[str, list[SampleLead]] = {}
    for sample in samples:
        email = str(sample.lead.fields.get("email") or "")
        company = sample.lead.fields.get("company")
        if not company or email.rsplit("@", 1)[-1] in FREE_DOMAINS:
            continue
        by_company.setdefault(str(company), []).append(sample)
    accounts: list[SampleAccount] = []
    for company in sorted(by_company):
        people = by_company[company]
        offices = max(1, round(len(people) / people_per_account))
        names = [OFFICES[i % len(OFFICES)] + ("" if i < len(OFFICES) else f" {i // len(OFFICES) + 1}")
                 for i in range(offices)]
        members: list[list[str]] = [[] for _ in names]
        for sample in people:
            members[rng.randrange(offices)].append(sample.lead.id)
        for office, ids in zip(names, members):
            if not ids:
                continue
            n = len(accounts) + 1
            created = min(s.lead.created_at for s in people if s.lead.id in set(ids))
            slug = company.lower().replace(" ", "")
            fields: dict[str, object] = {
                "company": f"{company} {office}",
                "industry": _pick(rng, INDUSTRIES),
                "employees": rng.choice((20, 80, 250, 1200, 5000, 20000)),
                "annual_revenue": rng.choice((2_000_000, 15_000_000, 120_000_000, 900_000_000)),
                "country": _pick(rng, COUNTRIES),
                "city": office.split(" ")[0],
                "website": f"https://{slug}.com",
                "type": _pick(rng, ACCOUNT_TYPES),
            }
            account = Lead(id=f"A{n:07d}", object_type="account", fields=fields, created_at=created, updated_at=created)
            accounts.append(SampleAccount(account, tuple(ids)))
    return accounts
