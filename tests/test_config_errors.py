"""A bad config gets one line per problem naming the exact key path, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.agent.config import parse_config, validate_config
from leadscore.agent.core.errors import ConfigError

from .conftest import EXAMPLE_CONFIG

GOOD_RULE = 'kind = "fit"\nlabel = "Tech"\nfield = "industry"\nequals = "Technology"\npoints = 20\n'


def problems(toml: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(textwrap.dedent(toml))
    return caught.value.problems


def config_with_rules(*rules: str) -> str:
    return "[scoring]\n" + "".join(f"[[scoring.rules]]\n{r}\n" for r in rules)


def test_points_not_a_number_names_the_key_path() -> None:
    bad = GOOD_RULE.replace("points = 20", "points = 'abc'")
    assert problems(config_with_rules(GOOD_RULE, GOOD_RULE, GOOD_RULE, bad)) == [
        "scoring.rules[3].points: expected a number, got 'abc'"
    ]


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        config_with_rules(
            GOOD_RULE.replace("points = 20", 'points = "x"'),
            GOOD_RULE.replace('label = "Tech"\n', ""),
            GOOD_RULE + "pionts = 3\n",
        )
    )
    assert found == [
        "scoring.rules[0].points: expected a number, got 'x'",
        "scoring.rules[1].label: missing required key",
        "scoring.rules[2].pionts: unknown key",
    ]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('kind = "fitt"\nlabel = "x"\npoints = 1\n', "scoring.rules[0]: unknown kind 'fitt', expected one of 'fit', 'engagement', 'rollup'"),
        ('label = "x"\npoints = 1\n', "scoring.rules[0]: missing key 'kind' (one of 'fit', 'engagement', 'rollup')"),
        (
            'kind = "engagement"\nlabel = "x"\nactivity = "page_veiw"\npoints = 1\n',
            "scoring.rules[0].activity: unknown activity type 'page_veiw'",
        ),
        (
            'kind = "engagement"\nlabel = "x"\nactivity = "email_open"\npoints = 1\ndecay = { kind = "step", after_days = -3, factor = 0.5 }\n',
            "scoring.rules[0].decay.after_days: expected a number > 0, got -3",
        ),
        (
            'kind = "engagement"\nlabel = "x"\nactivity = "email_open"\npoints = 1\ndecay = { kind = "halflife" }\n',
            "scoring.rules[0].decay: unknown kind 'halflife'",
        ),
        (
            'kind = "engagement"\nlabel = "x"\nactivity = "email_open"\npoints = 1\ndecay = { kind = "exponential" }\n',
            "scoring.rules[0].decay.half_life_days: missing required key",
        ),
        ('kind = "fit"\nlabel = "x"\nfield = "title"\nregex = "(unclosed"\npoints = 1\n', "scoring.rules[0].regex: invalid regular expression"),
        ('kind = "fit"\nlabel = "x"\npoints = 1\n', "scoring.rules[0]: a condition needs a field with an operator"),
        ('kind = "fit"\nlabel = "x"\nfield = "titel"\nexists = true\npoints = 1\n', "scoring.rules[0].field: unknown lead field 'titel'"),
        ('kind = "fit"\nlabel = "x"\nfield = "title"\ncontains = 5\npoints = 1\n', "scoring.rules[0].contains: expected a string or a list, got 5"),
        ('kind = "fit"\nlabel = "x"\nfield = "employees"\ngte = 500\nlte = 10\npoints = 1\n', "scoring.rules[0]: empty numeric range"),
        (
            'kind = "fit"\nlabel = "x"\npoints = 1\nany = [{ field = "title", exists = "yes" }]\n',
            "scoring.rules[0].any[0].exists: expected true or false, got 'yes'",
        ),
        (
            'kind = "engagement"\nlabel = "x"\nactivity = "email_open"\npoints = 1\ntiers = [3, 1]\n',
            "scoring.rules[0]: give exactly one of 'points' or 'tiers'",
        ),
    ],
)
def test_rule_problems(snippet: str, expected: str) -> None:
    found = problems(config_with_rules(snippet))
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_cross_reference_problems_name_their_keys() -> None:
    found = problems(
        """
        [scoring]
        [[scoring.rules]]
        kind = "engagement"
        label = "Open"
        activity = "email_open"
        points = 2
        group = "emial"
        [[scoring.stages]]
        name = "Cold"
        [[scoring.stages]]
        name = "SQL"
        min_score = 100
        requires = ["budget"]
        [[scoring.stages]]
        name = "MQL"
        min_score = 50
        """
    )
    assert found == [
        "scoring.rules[0].group: unknown group 'emial' (groups: none defined)",
        "scoring.stages[1].requires[0]: unknown qualification criterion 'budget' (criteria: none defined)",
        "scoring.stages[2].min_score: stages must ascend: 50 is not above 100",
    ]


def test_missing_scoring_table() -> None:
    assert problems("[agents]\n") == ["scoring: missing required key", "agents: unknown key"]


def test_invalid_toml_says_where() -> None:
    found = problems("[scoring\n")
    assert len(found) == 1 and found[0].startswith("<config>: invalid TOML:") and "line 1" in found[0]


def test_example_config_is_valid() -> None:
    parse_config(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


# --- the CLI: exit codes and no tracebacks ------------------------------------------------


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leadscore.agent.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_validate_ok() -> None:
    done = run_cli("validate", "--config", str(EXAMPLE_CONFIG))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"


def test_validate_reports_problems_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(config_with_rules(GOOD_RULE, GOOD_RULE, GOOD_RULE, GOOD_RULE.replace("points = 20", "points = 'abc'")))
    done = run_cli("validate", "--config", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip() == "scoring.rules[3].points: expected a number, got 'abc'"
    assert "Traceback" not in done.stderr + done.stdout


def test_validate_missing_file_exit_2(tmp_path: Path) -> None:
    done = run_cli("validate", "--config", str(tmp_path / "nope.toml"))
    assert done.returncode == 2
    assert "no such config file" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_defaults_to_leadscore_toml_in_cwd(tmp_path: Path) -> None:
    (tmp_path / "leadscore.toml").write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    done = run_cli("validate", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


# --- fuzz: any malformed config gives problems with key paths, never another exception ----

_KEYS = [
    "kind", "label", "field", "equals", "in", "points", "tiers", "activity", "where", "decay", "after_days",
    "factor", "minus", "group", "min_points", "max_points", "all", "any", "not", "regex", "gte", "lt", "exists",
    "name", "min_score", "requires", "half_life_days", "over_days", "steps", "fit", "engagement", "min",
]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(), st.text(max_size=20))
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.sampled_from(_KEYS), children, max_size=6)
    ),
    max_leaves=25,
)
_SEGMENTS = ["scoring", "rules", "stages", "groups", "grades", "qualification", "budget", "total", *_KEYS]
_BASE = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))


def _mutate(data: object, path: list[object], value: object) -> object:
    """Replace (or add) the value at ``path`` in a copy of ``data``."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(data, dict) and isinstance(head, str):
        return {**data, head: _mutate(data.get(head), rest, value)}
    if isinstance(data, list) and isinstance(head, int) and data:
        copy = list(data)
        copy[head % len(copy)] = _mutate(copy[head % len(copy)], rest, value)
        return copy
    return value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.lists(st.one_of(st.sampled_from(_SEGMENTS), st.integers(0, 20)), min_size=1, max_size=5),
    value=_values,
)
def test_malformed_configs_give_key_paths_never_tracebacks(path: list[object], value: object) -> None:
    data = _mutate(_BASE, path, value)
    try:
        validate_config(data)  # type: ignore[arg-type]
    except ConfigError as exc:
        assert exc.problems
        for line in exc.problems:
            key, _, message = line.partition(": ")
            assert key and message, line
            assert "Traceback" not in line


# --- fuzz the CLI itself: mangled TOML files exit 2 with key paths, never a traceback --------

_EXAMPLE_LINES = EXAMPLE_CONFIG.read_text(encoding="utf-8").splitlines()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(_EXAMPLE_LINES) - 1), st.sampled_from(["drop", "garble", "retype", "dup"]),
                  st.text(alphabet="abc=\"'[]{}.,0123456789 -", max_size=12)),
        min_size=1, max_size=4,
    )
)
def test_cli_validate_on_mangled_files(tmp_path_factory, capsys, monkeypatch, edits) -> None:
    from leadscore.agent import cli

    lines = list(_EXAMPLE_LINES)
    for index, how, junk in edits:
        i = index % len(lines)
        if how == "drop":
            del lines[i]
        elif how == "garble":
            lines[i] = lines[i][: len(lines[i]) // 2] + junk
        elif how == "retype" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {junk!r}" if junk else f"{key}= []"
        else:
            lines.insert(i, lines[i])
        if not lines:
            lines = [""]
    path = tmp_path_factory.mktemp("fuzz") / "leadscore.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["leadscore", "validate", "--config", str(path)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    captured = capsys.readouterr()
    assert exited.value.code in (0, 2), captured.err
    assert "Traceback" not in captured.err + captured.out
    if exited.value.code == 2:
        problems = [line for line in captured.err.splitlines() if line.strip()]
        assert problems
        for line in problems:
            key, sep, message = line.partition(": ")
            assert sep and key and message, line


def test_connector_problems_come_with_the_others() -> None:
    found = problems('[scoring]\nname = "x"\n[[scoring.stages]]\nname = "Cold"\n[agent]\nlease = "abc"\n[connectors.hubspot]\ntier = "platinum"\n')
    assert any(line.startswith("agent.lease:") for line in found)
    assert any(line.startswith("connectors.hubspot.tier:") for line in found)
