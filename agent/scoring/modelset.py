"""Several models in one config: which model scores which record.

``[scoring]`` is the model for people; ``[[models]]`` adds named ones (:class:`NamedModel`), each
for people or for accounts, narrowed by object type and a ``when`` condition on the record's
fields (one model per region, per product line). A record goes to the first named model that
takes it, in ``order``; a person none takes goes to ``[scoring]``; an account none takes is not
scored. Each result carries its own model's version (``emea:3f2a...``), so history, preview and
the CRM's model-version field say which model wrote a value.

Two models that may take the same record, with no ``order`` between them, are a config error
(:func:`overlaps`): the admin either orders them or makes their ``when`` filters exclusive in a
way the check can see (the same field with disjoint values or ranges, ``exists`` against
``missing``, a condition against its ``not``, disjoint object types). The check is conservative
on purpose: a filter it cannot prove exclusive needs an ``order``, because "which model scored this
lead" must never depend on chance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from leadscore.agent.core.records import ACCOUNT_PREFIX, Activity, Lead, ScoreLine, ScoreResult
from leadscore.agent.scoring.conditions import Predicate, compile_condition
from leadscore.agent.scoring.engine import ScoringEngine
from leadscore.agent.scoring.model import Condition, NamedModel, RollupRule, ScoringModel


@dataclass(frozen=True)
class _Entry:
    index: int
    model: NamedModel
    engine: ScoringEngine
    test: Predicate | None
    objects: frozenset[str] | None

    def takes(self, lead: Lead) -> bool:
        if self.objects is not None and lead.object_type not in self.objects:
            return False
        return self.test is None or bool(self.test(lead.fields or {}))


class ModelSet:
    """The scorer of a config with ``[[models]]``: it scores each record with the model that takes
    it. Quacks like the default scorer (``version``, ``score``, ``fields_used``...), so the
    pipeline needs no second path for people; accounts go through :meth:`score_account`."""

    def __init__(self, default: Any, models: Sequence[NamedModel]) -> None:
        self.default = default
        entries = [
            _Entry(i, m, ScoringEngine(m), compile_condition(m.when) if m.when is not None else None,
                   frozenset(m.objects) if m.objects is not None else None)
            for i, m in enumerate(models)
        ]
        ranked = sorted(entries, key=lambda e: (e.model.order is None, e.model.order or 0, e.index))
        self._by_name = {e.model.name: e for e in entries}
        self.people = tuple(e for e in ranked if e.model.applies_to == "people")
        self.accounts = tuple(e for e in ranked if e.model.applies_to == "accounts")
        default_engine = getattr(default, "engine", default)
        self.engine: ScoringEngine = default_engine
        versions = {"": default.version, **{e.model.name: e.engine.version for e in entries}}
        blob = json.dumps(versions, sort_keys=True).encode()
        self.version = "set:" + hashlib.sha256(blob).hexdigest()[:12]

    # --- what it reads -----------------------------------------------------------------------

    @property
    def uses_model(self) -> bool:
        return bool(getattr(self.default, "uses_model", False))

    @property
    def fields_used(self) -> frozenset[str]:
        """Every field a model reads: people's own and ``account.*``; accounts' as
        ``account.*`` too, since they are the account's fields."""
        used = set(self.people_fields_used)
        for entry in self.accounts:
            used |= {ACCOUNT_PREFIX + f for f in entry.engine.fields_used | _when_fields(entry.model.when)}
        return frozenset(used)

    @property
    def people_fields_used(self) -> frozenset[str]:
        """The fields the people's models read (``account.*`` among them when they join)."""
        used = set(self.engine.fields_used)
        for entry in self.people:
            used |= entry.engine.fields_used | _when_fields(entry.model.when)
        return frozenset(used)

    @property
    def activity_types_used(self) -> frozenset[str]:
        types = set(self.engine.activity_types_used)
        for entry in self.people + self.accounts:
            types |= entry.engine.activity_types_used
        return frozenset(types)

    @property
    def scores_accounts(self) -> bool:
        return bool(self.accounts)

    def fields_for(self, version: str, connector: str) -> dict[str, str] | None:
        """The own fields on ``connector`` of the model whose result carries ``version``
        (``[models.write.<connector>]``); None: the connector's shared ``write`` map."""
        name = model_name(version)
        entry = self._by_name.get(name) if name is not None else None
        fields = entry.model.write.get(connector) if entry is not None else None
        return dict(fields) if fields else None

    def versions(self) -> dict[str, str]:
        """Each model's name and version, ``[scoring]`` first."""
        out = {getattr(self.engine.model, "name", "scoring"): self.default.version}
        out.update({e.model.name: e.engine.version for e in self.people + self.accounts})
        return out

    # --- scoring -----------------------------------------------------------------------------

    def model_for(self, lead: Lead, *, account: bool = False) -> str | None:
        """The name of the model that takes ``lead`` (None: ``[scoring]`` for a person, no model
        for an account)."""
        entry = self._entry(lead, account)
        return entry.model.name if entry is not None else None

    def _entry(self, lead: Lead, account: bool) -> _Entry | None:
        for entry in self.accounts if account else self.people:
            if entry.takes(lead):
                return entry
        return None

    def score(self, lead: Lead, activities: Iterable[Activity] = (), as_of: datetime | None = None) -> ScoreResult:
        """A person's score, by the named model that takes it, else ``[scoring]``."""
        entry = self._entry(lead, False)
        if entry is None:
            return self.default.score(lead, activities, as_of)  # type: ignore[no-any-return]
        return entry.engine.score(lead, activities, as_of)

    def score_many(
        self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None,
        *, reason_budget: int | None = None,
    ) -> list[ScoreResult]:
        """Each person's result, in order, each model scoring its own leads as one batch."""
        return self._each_model(leads, lambda scorer, mine: score_leads(scorer, mine, activities, as_of,
                                                                         reason_budget=reason_budget))

    def score_lines(
        self, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None = None,
        *, reason_budget: int = 255,
    ) -> list[ScoreLine]:
        """Each person's :class:`ScoreLine`, in order, each model scoring its own leads as one batch."""
        return self._each_model(leads, lambda scorer, mine: score_lines(scorer, mine, activities, as_of,
                                                                         reason_budget=reason_budget))

    def _each_model(self, leads: Sequence[Lead], score: Callable[[Any, list[Lead]], Sequence[Any]]) -> list[Any]:
        """``score`` of each model's own leads, put back in the order of ``leads``; the first
        error any lead raised is raised."""
        taken: dict[int, list[int]] = {}
        for i, lead in enumerate(leads):
            entry = self._entry(lead, False)
            taken.setdefault(-1 if entry is None else entry.index, []).append(i)
        out: list[Any] = [None] * len(leads)
        entries = {e.index: e for e in self.people}
        for key, rows in taken.items():
            scorer = self.default if key < 0 else entries[key].engine
            for i, result in zip(rows, score(scorer, [leads[i] for i in rows])):
                if isinstance(result, BaseException):
                    raise result
                out[i] = result
        return out

    def score_account(
        self, account: Lead, activities: Iterable[Activity], as_of: datetime, people: Sequence[ScoreResult]
    ) -> ScoreResult | None:
        """An account's score from its own fields, its people's activities and their results;
        None when no account model takes it."""
        entry = self._entry(account, True)
        if entry is None:
            return None
        return entry.engine.score(account, activities, as_of, people=people)


def score_leads(
    scorer: Any, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None,
    *, reason_budget: int | None = None,
) -> list[ScoreResult | Exception]:
    """Each lead's result, in order, or the error scoring it raised. A scorer with ``score_many``
    (the rules engine, a model set) scores the leads as one batch, rendering their reason lines
    at ``reason_budget`` as it goes; if the batch fails, they are scored one by one, so a record
    the engine cannot score costs only itself."""
    many = getattr(scorer, "score_many", None)
    if many is not None:
        try:
            return list(many(leads, activities, as_of, reason_budget=reason_budget))
        except Exception:  # noqa: BLE001 - find the record at fault below
            pass
    return _one_by_one(scorer, leads, activities, as_of, lambda result: result)


def score_lines(
    scorer: Any, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None,
    *, reason_budget: int = 255,
) -> list[ScoreLine | Exception]:
    """Each lead's :class:`ScoreLine` (values and reason line at ``reason_budget``), in order, or
    the error scoring it raised: :func:`score_leads` for what the sync writes. A scorer with
    ``score_lines`` makes them from one batch without building reason parts; any other scorer's
    results are cut down to lines. A failed batch is scored one by one, as in :func:`score_leads`."""
    lines = getattr(scorer, "score_lines", None)
    if lines is None:
        return [r if isinstance(r, Exception) else r.line(reason_budget)
                for r in score_leads(scorer, leads, activities, as_of, reason_budget=reason_budget)]
    try:
        return list(lines(leads, activities, as_of, reason_budget=reason_budget))
    except Exception:  # noqa: BLE001 - find the record at fault below
        pass
    return _one_by_one(scorer, leads, activities, as_of, lambda result: result.line(reason_budget))


def _one_by_one(
    scorer: Any, leads: Sequence[Lead], activities: Mapping[str, Sequence[Activity]], as_of: datetime | None,
    make: Callable[[ScoreResult], Any],
) -> list[Any]:
    out: list[Any] = []
    for lead in leads:
        try:
            out.append(make(scorer.score(lead, activities.get(lead.id, ()), as_of)))
        except Exception as exc:  # noqa: BLE001 - reported per record by the caller
            out.append(exc)
    return out


def model_name(version: str) -> str | None:
    """The named model (``[[models]]``) a result's version names (``emea:3f2a...``); None for
    ``[scoring]``, whose versions carry no name."""
    return version.split(":", 1)[0] if ":" in version else None


def _when_fields(when: Condition | None) -> set[str]:
    return when.fields_used() if when is not None else set()


# --- checks ----------------------------------------------------------------------------------


def check_models(models: Sequence[NamedModel], scoring: ScoringModel) -> list[tuple[str, str]]:
    """Problems across ``[[models]]`` and ``[scoring]``, as ``(key path, message)``: duplicate
    names, roll-up rules outside account models, account models reading ``account.*``, roll-ups
    counting stages no people model has, and models that may take the same record unordered."""
    problems: list[tuple[str, str]] = []
    names = {scoring.name: "scoring.name"}
    people = [scoring, *(m for m in models if m.applies_to == "people")]
    people_stages = {s.name for m in people for s in m.stages}
    for j, rule in enumerate(scoring.rules):
        if isinstance(rule, RollupRule):
            problems.append((f"scoring.rules[{j}]", "rollup rules belong to account models ([[models]] with applies_to = \"accounts\")"))
    for i, m in enumerate(models):
        path = f"models[{i}]"
        if m.name in names:
            problems.append((f"{path}.name", f"duplicate model name '{m.name}' (also {names[m.name]})"))
        names.setdefault(m.name, f"{path}.name")
        for j, rule in enumerate(m.rules):
            if isinstance(rule, RollupRule):
                if m.applies_to != "accounts":
                    problems.append((f"{path}.rules[{j}]", "rollup rules belong to account models (applies_to = \"accounts\")"))
                for stage in rule.stages or ():
                    if stage not in people_stages:
                        problems.append((f"{path}.rules[{j}].stages", f"no people model has a stage '{stage}'"))
        if m.applies_to == "accounts":
            read = set(ScoringEngine(m).fields_used) | _when_fields(m.when)
            for name in sorted(f for f in read if f.startswith(ACCOUNT_PREFIX)):
                problems.append((path, f"'{name}': an account model reads the account's own fields without the prefix "
                                       f"('{name[len(ACCOUNT_PREFIX):]}')"))
    for a, b, why in overlaps(models):
        problems.append((f"models[{b}]", f"models '{models[a].name}' and '{models[b].name}' may both take the same "
                                         f"record ({why}): give both an 'order' (lower first) or make their 'when' "
                                         "filters exclusive on one field"))
    return problems


def overlaps(models: Sequence[NamedModel]) -> list[tuple[int, int, str]]:
    """Pairs of models (indexes) that may take the same record with no order between them."""
    found: list[tuple[int, int, str]] = []
    for i, a in enumerate(models):
        for j in range(i + 1, len(models)):
            b = models[j]
            if a.applies_to != b.applies_to:
                continue
            if a.order is not None and b.order is not None and a.order != b.order:
                continue
            if a.objects is not None and b.objects is not None and not set(a.objects) & set(b.objects):
                continue
            if _exclusive(a.when, b.when):
                continue
            why = "neither has a 'when' filter" if a.when is None and b.when is None else "their 'when' filters can both hold"
            found.append((i, j, why))
    return found


def _exclusive(a: Condition | None, b: Condition | None) -> bool:
    """Whether no record can pass both conditions, as far as a simple proof goes: one of the
    conditions each must hold (a leaf, or a leaf of its ``all``) contradicts one of the other's."""
    if a is None or b is None:
        return False
    return any(_contradict(x, y) for x in _musts(a) for y in _musts(b))


def _musts(cond: Condition) -> list[Condition]:
    """Conditions that must all hold for ``cond`` to hold: itself and, through ``all``, its parts."""
    out = [cond]
    for child in cond.all or []:
        out.extend(_musts(child))
    return out


def _contradict(x: Condition, y: Condition) -> bool:
    if x.not_ is not None and x.not_ == y or y.not_ is not None and y.not_ == x:
        return True
    if x.field is None or x.field != y.field:
        return False
    if (x.exists is True or x.missing is False) and (y.missing is True or y.exists is False):
        return True
    if (y.exists is True or y.missing is False) and (x.missing is True or x.exists is False):
        return True
    xs, ys = _values(x), _values(y)
    if xs is not None and ys is not None and not xs & ys:
        return True
    xr, yr = _range(x), _range(y)
    if xr is not None and yr is not None:
        (xl, xli), (xh, xhi) = xr
        (yl, yli), (yh, yhi) = yr
        if _below(xh, xhi, yl, yli) or _below(yh, yhi, xl, xli):
            return True
    return False


def _values(cond: Condition) -> set[str] | None:
    """The values an ``equals``/``in`` leaf allows, as the engine compares them (text, case folded
    unless case-sensitive); None when the leaf does not list values."""
    listed: list[Any] | None = None
    if cond.equals is not None:
        listed = [cond.equals]
    if cond.in_ is not None:
        listed = [v for v in cond.in_ if listed is None or v in listed]
    if listed is None:
        return None
    texts = {str(v).strip() for v in listed}
    return texts if cond.case_sensitive else {t.casefold() for t in texts}


def _range(cond: Condition) -> tuple[tuple[float, bool], tuple[float, bool]] | None:
    """``((low, inclusive), (high, inclusive))`` of a numeric leaf; None when it has no bound."""
    if cond.gte is None and cond.gt is None and cond.lte is None and cond.lt is None:
        return None
    low = (cond.gte, True) if cond.gte is not None else (cond.gt, False) if cond.gt is not None else (float("-inf"), False)
    high = (cond.lte, True) if cond.lte is not None else (cond.lt, False) if cond.lt is not None else (float("inf"), False)
    return low, high  # type: ignore[return-value]


def _below(high: float, high_inclusive: bool, low: float, low_inclusive: bool) -> bool:
    """Whether every number up to ``high`` is below every number from ``low``."""
    return high < low or (high == low and not (high_inclusive and low_inclusive))
