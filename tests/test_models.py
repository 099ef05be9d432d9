"""Several models in one config (``[[models]]``): which model scores which record, the overlap
check ``validate`` makes, and account models rolling up their people."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from leadscore.agent.config import parse_config
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.scoring.modelset import ModelSet
from leadscore.agent.sync.pipeline import scorer_needs
from tests.conftest import named_model, toml_tables

NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)

BASE = '[scoring]\nname = "global"\n' + toml_tables(
    "scoring.rules", {"kind": "fit", "label": "Title: {value}", "field": "title", "contains": "VP", "points": 10})


def tech(label: str, points: int) -> dict[str, object]:
    return {"kind": "fit", "label": label, "field": "industry", "equals": "Technology", "points": points}


REGIONS = (
    BASE
    + named_model("emea", tech("EMEA tech", 30), stages=("Cold", ("MQL", 25)), objects=["lead", "contact"],
                  when={"field": "country", "in": ["Germany", "France"]})
    + named_model("amer", tech("AMER tech", 50), when={"field": "country", "in": ["United States", "Canada"]})
)

ACCOUNTS = BASE + named_model(
    "accounts",
    {"kind": "fit", "label": "Industry: {value}", "field": "industry", "equals": "Software", "points": 20},
    {"kind": "rollup", "label": "Best contact", "aggregate": "best", "weight": 0.5},
    {"kind": "rollup", "label": "Engaged contacts", "aggregate": "count", "min_score": 10, "weight": 5, "max_points": 10},
    {"kind": "engagement", "label": "Pricing visits across the account", "activity": "page_view",
     "where": {"field": "url", "contains": "/pricing"}, "points": 3, "max_points": 9},
    applies_to="accounts",
)


def models(text: str) -> ModelSet:
    config = parse_config(textwrap.dedent(text))
    return ModelSet(ScoringEngine(config.scoring), config.models)


def lead(lead_id: str, **fields: object) -> Lead:
    return Lead(lead_id, "lead", fields)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(text))
    return caught.value.problems


# --- which model ---------------------------------------------------------------------------------


def test_two_models_split_by_when_score_disjoint_sets() -> None:
    scorer = models(REGIONS)
    people = [lead(f"L{i}", country=c, industry="Technology", title="VP Sales")
              for i, c in enumerate(["Germany", "France", "United States", "Canada", "Japan", "Germany"])]
    results = [scorer.score(p, (), NOW) for p in people]
    names = [r.model_version.split(":")[0] if ":" in r.model_version else "global" for r in results]
    assert names == ["emea", "emea", "amer", "amer", "global", "emea"]
    assert [r.score for r in results] == [30, 30, 50, 50, 10, 30]
    assert results[0].stage == "MQL"  # the emea model's own stages
    assert scorer.model_for(people[4]) is None  # nobody named: [scoring]


def test_objects_narrow_a_model() -> None:
    scorer = models(REGIONS)
    person = Lead("C1", "person", {"country": "Germany", "industry": "Technology"})
    assert scorer.model_for(person) is None  # emea takes leads and contacts only


def test_the_set_version_moves_with_any_model_and_each_result_names_its_own() -> None:
    first = models(REGIONS)
    second = models(REGIONS.replace("points = 50", "points = 55"))
    assert first.version != second.version
    versions = first.versions()
    assert list(versions) == ["global", "emea", "amer"] and versions["emea"].startswith("emea:")
    emea = first.score(lead("L1", country="Germany"), (), NOW).model_version
    assert emea == second.score(lead("L1", country="Germany"), (), NOW).model_version  # emea did not change


def test_pull_needs_cover_every_model() -> None:
    needs = scorer_needs(models(REGIONS))
    assert needs is not None and {"title", "country", "industry"} <= needs.fields


# --- the overlap check ------------------------------------------------------------------------------


def test_overlapping_models_are_a_config_error_naming_both() -> None:
    text = REGIONS.replace('in = ["United States", "Canada"]', 'in = ["United States", "Germany"]')
    [problem] = problems(text)
    assert problem.startswith("models[1]: models 'emea' and 'amer' may both take the same record")
    assert "order" in problem


def test_ordered_models_may_overlap() -> None:
    text = REGIONS.replace('in = ["United States", "Canada"]', 'in = ["United States", "Germany"]')
    text = text.replace('name = "emea"\n', 'name = "emea"\norder = 1\n').replace('name = "amer"\n', 'name = "amer"\norder = 2\n')
    scorer = models(text)
    assert scorer.model_for(lead("L1", country="Germany")) == "emea"  # lower order first


@pytest.mark.parametrize(
    ("a", "b", "exclusive"),
    [
        ('{ field = "employees", gte = 1000 }', '{ field = "employees", lt = 1000 }', True),
        ('{ field = "employees", gte = 1000 }', '{ field = "employees", lte = 1000 }', False),
        ('{ field = "region", exists = true }', '{ field = "region", missing = true }', True),
        ('{ field = "region", equals = "EMEA" }', '{ not = { field = "region", equals = "EMEA" } }', True),
        ('{ all = [{ field = "region", equals = "EMEA" }, { field = "x", exists = true }] }',
         '{ field = "region", in = ["amer", "apac"] }', True),
        ('{ field = "region", equals = "EMEA" }', '{ field = "region", equals = "emea" }', False),  # case folded
        ('{ field = "region", equals = "EMEA" }', '{ field = "segment", equals = "SMB" }', False),
        ('{ any = [{ field = "region", equals = "EMEA" }] }', '{ field = "region", equals = "AMER" }', False),
    ],
)
def test_the_overlap_check_proves_simple_exclusive_filters(a: str, b: str, exclusive: bool) -> None:
    text = BASE + "".join(
        f'[[models]]\nname = "m{i}"\nwhen = {w}\n[[models.rules]]\nkind = "fit"\nlabel = "x"\nfield = "title"\nexists = true\npoints = 1\n'
        for i, w in enumerate((a, b))
    )
    if exclusive:
        parse_config(text)
    else:
        assert any("may both take the same record" in p for p in problems(text))


def test_models_without_filters_overlap_unless_their_objects_differ() -> None:
    rule = '[[models.rules]]\nkind = "fit"\nlabel = "x"\nfield = "title"\nexists = true\npoints = 1\n'
    text = BASE + f'[[models]]\nname = "a"\nobjects = ["lead"]\n{rule}[[models]]\nname = "b"\nobjects = ["contact"]\n{rule}'
    parse_config(text)
    assert problems(text.replace('objects = ["contact"]', 'objects = ["contact", "lead"]'))


def test_model_problems_name_their_keys() -> None:
    text = BASE + """
[[models]]
name = "global"
[[models.rules]]
kind = "rollup"
label = "Best"
aggregate = "best"
stages = ["Hot"]
[[models.rules]]
kind = "fit"
label = "x"
field = "nonsense"
exists = true
points = 1
"""
    found = problems(text)
    assert "models[0].rules[1].field: unknown lead field 'nonsense' (use a canonical field or custom.<name>)" in found
    assert "models[0].name: duplicate model name 'global' (also scoring.name)" in found
    assert 'models[0].rules[0]: rollup rules belong to account models (applies_to = "accounts")' in found
    assert "models[0].rules[0].stages: no people model has a stage 'Hot'" in found


def test_an_account_model_reads_its_own_fields_without_the_prefix() -> None:
    text = ACCOUNTS.replace('field = "industry"\nequals = "Software"', 'field = "account.industry"\nequals = "Software"')
    assert any("reads the account's own fields without the prefix ('industry')" in p for p in problems(text))


def test_validate_exits_2_on_overlap_and_prints_each_model(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(REGIONS)
    done = subprocess.run([sys.executable, "-m", "leadscore.agent.cli", "validate", "--config", str(good)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "model 'emea' version emea:" in done.stderr and "scores people (lead, contact) when" in done.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(REGIONS.replace('"Canada"', '"France"'))
    done = subprocess.run([sys.executable, "-m", "leadscore.agent.cli", "validate", "--config", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "may both take the same record" in done.stderr and "Traceback" not in done.stderr


# --- account models -------------------------------------------------------------------------------


def test_an_account_rolls_up_its_people() -> None:
    scorer = models(ACCOUNTS)
    account = Lead("A1", "account", {"company": "Acme", "industry": "Software"})
    people = [scorer.score(lead("L1", title="VP Sales"), (), NOW), scorer.score(lead("L2", title="VP Ops"), (), NOW),
              scorer.score(lead("L3", title="Engineer"), (), NOW)]
    visits = [Activity(f"L{i}", "page_view", NOW - timedelta(days=i), {"url": "/pricing"}) for i in range(1, 5)]
    result = scorer.score_account(account, visits, NOW, people)
    assert result is not None
    parts = {p.label: p.points for p in result.reasons}
    # fit 20, best person 10 * 0.5 = 5, two engaged people * 5 = 10, four pricing visits * 3 = 12 capped at 9
    assert parts["Industry: Software"] == 20 and parts["Best contact"] == 5 and parts["Engaged contacts"] == 10
    assert result.score == 20 + 5 + 10 + 9 == sum(p.points for p in result.reasons)
    assert result.model_version.startswith("accounts:")


def test_no_account_model_scores_no_account() -> None:
    assert models(REGIONS).score_account(Lead("A1", "account", {}), (), NOW, []) is None


def test_people_rules_read_their_accounts_fields() -> None:
    text = BASE.replace('field = "title"\ncontains = "VP"', 'field = "account.industry"\nequals = "Software"')
    config = parse_config(text)
    engine = ScoringEngine(config.scoring)
    assert engine.score(Lead("C1", "contact", {"account.industry": "Software"}), (), NOW).score == 10
    assert "account.industry" in engine.fields_used
    needs = scorer_needs(engine)
    assert needs is not None and "account.industry" not in needs.fields  # comes with the account's pull


# --- a model's own fields -------------------------------------------------------------------------

OWN = REGIONS.replace('in = ["Germany", "France"] }\n', 'in = ["Germany", "France"] }\n[models.write.hubspot]\nscore = "emea_score"\nstage = "emea_stage"\n', 1) + """
[connectors.hubspot]
access_token = "x"
"""


def test_a_models_own_fields_name_where_its_results_go() -> None:
    config = parse_config(OWN)
    scorer = ModelSet(ScoringEngine(config.scoring), config.models)
    emea = scorer.score(lead("L1", country="Germany"), (), NOW)
    other = scorer.score(lead("L2", country="Japan"), (), NOW)
    assert scorer.fields_for(emea.model_version, "hubspot") == {"score": "emea_score", "stage": "emea_stage"}
    assert scorer.fields_for(emea.model_version, "salesforce") is None  # not named there: the shared set
    assert scorer.fields_for(other.model_version, "hubspot") is None
    spec = config.write_spec(frozenset({"score", "stage", "reason"}), "hubspot")
    assert list(spec.field_sets) == [{"score": "emea_score", "stage": "emea_stage"}]
    assert not config.write_spec(frozenset({"score"}), "salesforce").field_sets


def test_own_fields_are_checked_like_the_connectors_write_map() -> None:
    bad = OWN.replace('stage = "emea_stage"', 'stage = "jobtitle"\nsocre = "x"').replace(
        "[models.write.hubspot]", "[models.write.pipedrive]\nscore = \"s\"\n[models.write.hubspot]")
    found = problems(bad)
    assert "models[0].write.pipedrive: no [connectors.pipedrive] table to write to" in found
    assert any(p.startswith("models[0].write.hubspot.socre") for p in found), found
    assert any(p.startswith("models[0].write.hubspot") and "jobtitle" in p for p in found), found


def test_a_record_moving_to_a_model_with_its_own_fields_is_written_whole_there() -> None:
    from leadscore.agent.state import Baseline, Desired, RecordKey
    from leadscore.agent.sync.diff import DiffPolicy, plan_writes

    policy = DiffPolicy()
    shared = Desired("contact", "C1", {"score": 30, "stage": "MQL"}, 30, "MQL", "v1")
    own = Desired("contact", "C1", {"score": 30, "stage": "MQL"}, 30, "MQL", "emea:v2",
                  fields={"score": "emea_score", "stage": "emea_stage"})
    key = RecordKey("contact", "C1")
    # Last written to the shared fields: the same values are new to the model's own fields.
    [write] = plan_writes([own], Baseline({key: shared.stored()}, {}), policy)
    assert write.send == {"score": 30, "stage": "MQL"} and write.update.fields == {"score": "emea_score", "stage": "emea_stage"}
    # Last written to these own fields: nothing to do.
    assert plan_writes([own], Baseline({key: own.stored()}, {}), policy) == []
    # Back to the shared set: written whole again.
    [back] = plan_writes([shared], Baseline({key: own.stored()}, {}), policy)
    assert back.send == {"score": 30, "stage": "MQL"} and back.update.fields is None
