"""A generated CRM world where conversion depends on *recent* activity, with outcomes dated the way
the connectors date them: won at conversion, lost when sales closes a lead that went quiet, open
at the as-of.

Each lead has a profile (industry, a company or free-mail address, size) and an engagement level
that fades after it is created (interest is highest when a lead arrives). Every day it converts
with a probability that grows with its activities of the last seven days (pricing-page visits
weigh most) and its profile; a lead quiet for ``quiet_days`` is closed lost that day. So an
engaged new lead is likely to convert soon, and:

* snapshotted at its outcome, a converted lead was active days before, a lost one had been quiet
  for ``quiet_days`` - "recent activity" separates them perfectly, and says nothing about a lead
  a week old, which was active yesterday whatever becomes of it;
* snapshotted at a fixed age, the *amount* of early activity is what predicts conversion.

Plain data out (the shapes :mod:`leadscore.agent.predictive.pointintime` takes), no store.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from leadscore.agent.core.records import Activity, Lead, Outcome, OutcomeKind
from leadscore.agent.predictive.pointintime import FieldVersion, LeadHistory

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
INDUSTRIES = ("Software", "Finance", "Health", "Retail")
INDUSTRY_EFFECT = {"Software": 0.5, "Finance": 0.2, "Health": 0.0, "Retail": -0.4}
URLS = ("/", "/blog/post", "/features", "/docs", "/pricing")
URL_WEIGHTS = (0.3, 0.3, 0.15, 0.1, 0.15)
FLOOR = 0.3


@dataclass(frozen=True)
class World:
    histories: list[LeadHistory]
    outcomes: list[Outcome]
    as_of: datetime

    @property
    def leads(self) -> list[Lead]:
        return [h.lead for h in self.histories]

    @property
    def activities(self) -> list[Activity]:
        return [a for h in self.histories for a in h.activities]


def generate_world(n: int = 2500, seed: int = 0, *, days: int = 540, quiet_days: int = 45, summaries: bool = True) -> World:
    """``n`` leads created over ``days - 120`` days; the as-of is ``days`` after the start."""
    rng = random.Random(seed)  # scalar draws, many of them: the stdlib's are the fast ones
    as_of = START + timedelta(days=days)
    histories: list[LeadHistory] = []
    outcomes: list[Outcome] = []
    for i in range(n):
        lead_id = f"W{seed}-{i}"
        created = START + timedelta(days=rng.uniform(0, days - 120))
        industry = rng.choice(INDUSTRIES)
        free_mail = rng.random() < 0.35
        employees = int(rng.lognormvariate(3.5, 1.3)) + 1
        fields = {
            "industry": industry,
            "email": f"p{i}@{'gmail.com' if free_mail else f'firm{i}.com'}",
            "employees": str(employees),
            "country": rng.choice(["Germany", "France", "Spain", "Italy"]),
        }
        lift = math.exp(INDUSTRY_EFFECT[industry] - 0.4 * free_mail + 0.1 * (math.log(employees) - 3.5))
        engagement = rng.lognormvariate(-1.2, 1.0)
        opens = 1.0 / (1.0 + math.exp(-(math.log(engagement) + 1.0)))  # the share of nurture emails it opens
        life = int((as_of - created) / timedelta(days=1))
        activities: list[Activity] = []
        versions = [FieldVersion(name, value, created) for name, value in sorted(fields.items())]
        totals = {"page_views": 0, "email_opens": 0}
        pressure = [0] * max(life, 1)  # per day, the weight of its site visits (a pricing page's is 4)
        outcome: Outcome | None = None
        last_visit = 0
        give_up = int(rng.uniform(90, 240))  # sales closes it lost by then, whatever it does

        def at(day: int) -> datetime:
            return created + timedelta(days=day + rng.random())

        for day in range(life):
            if outcome is None:
                recent = sum(pressure[max(0, day - 7) : day])  # its visits of the last seven days
                if recent and rng.random() < 1.0 - math.exp(-0.004 * recent * lift):
                    outcome = Outcome.of(OutcomeKind.WON, lead_id, "lead", at(day))
                elif day - last_visit >= quiet_days or day >= give_up:  # sales closes it lost
                    outcome = Outcome.of(OutcomeKind.LOST, lead_id, "lead", at(day))
            won = outcome is not None and outcome.converted
            lost = outcome is not None and not outcome.converted
            changed: list[str] = []
            # Site visits: interest fading from arrival to a floor; a customer keeps using the docs.
            rate = 0.3 if won else 0.0 if lost else engagement * (FLOOR + (1 - FLOOR) * math.exp(-day / 30.0))
            for _ in range(_poisson(rng, rate)):
                url = "/docs" if won else rng.choices(URLS, URL_WEIGHTS)[0]
                activities.append(Activity(lead_id, "page_view", at(day), {"url": url}))
                totals["page_views"] += 1
                changed.append("page_views")
                if outcome is None:
                    pressure[day] += 4 if url == "/pricing" else 1
                    last_visit = day
            # The weekly nurture email, to every lead that is not a customer (lost ones too).
            if not won and day % 7 == 3 and rng.random() < opens:
                activities.append(Activity(lead_id, "email_open", at(day)))
                totals["email_opens"] += 1
                changed.append("email_opens")
            if summaries and changed:  # the CRM's own engagement summaries on the record, at day's end
                moment = created + timedelta(days=day + 1)
                versions += [FieldVersion(name, str(totals[name]), moment) for name in sorted(set(changed))]
        if summaries:
            fields = {**fields, **{name: str(value) for name, value in totals.items()}}
        lead = Lead(lead_id, "lead", fields, created_at=created)
        histories.append(LeadHistory(lead, tuple(versions), tuple(activities)))
        outcomes.append(outcome or Outcome.of(OutcomeKind.OPEN, lead_id, "lead", as_of))
    return World(histories, outcomes, as_of)


def _poisson(rng: random.Random, rate: float) -> int:
    """A Poisson draw (Knuth's method: the rates here are small)."""
    if rate <= 0:
        return 0
    limit, k, product = math.exp(-rate), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
