"""The offline CLI an admin tries first: score, explain and demo, on clean and messy exports."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from leadscore.agent.csvfiles import SCORED_COLUMNS

from .conftest import EXAMPLE_CONFIG

AS_OF = "2026-11-01T00:00:00Z"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "leadscore.agent.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, Path]:
    leads = tmp_path / "leads.csv"
    leads.write_text(
        "id,industry,title,country,email,employees,Favourite Colour\n"
        "w1,Technology,CTO,United States,cto@acme.com,500,blue\n"
        "w2,Retail,Student,India,kid@gmail.com,abc,red\n"
        ",Technology,CEO,Canada,,,\n"  # no id: skipped and counted
        "w3,Healthcare,Director of IT,Germany,,1200,\n"
        "w4,Education,Ünïcødé 日本語,France,,," + "x" * 100_000 + "\n",
        encoding="utf-8",
    )
    activities = tmp_path / "activities.csv"
    activities.write_text(
        "lead_id,type,occurred_at,url,asset,source\n"
        "w1,page_view,2026-10-30T00:00:00Z,https://example.com/pricing,,\n"
        "w1,content_download,2026-10-27T00:00:00Z,,product-datasheet,\n"
        "w1,webinar_attended,2026-07-24T00:00:00Z,,,\n"
        "w1,page_view,2026-10-29T00:00:00Z,https://example.com/blog/a,,\n"
        "w1,page_view,2026-10-28T00:00:00Z,https://example.com/blog/b,,\n"
        "w1,page_view,2026-10-27T00:00:00Z,https://example.com/blog/c,,\n"
        "w1,email_open,2026-10-22T00:00:00Z,,,\n"
        "w1,email_open,2026-10-22T00:00:00Z,,,\n"
        "w1,email_open,2026-09-22T00:00:00Z,,,\n"
        "w1,email_open,2026-09-22T00:00:00Z,,,\n"
        "w1,email_click,2026-10-22T00:00:00Z,,,\n"
        "w2,email_open,not-a-date,,,\n"  # bad timestamp: skipped and counted
        "w2,telepathy,2026-10-22T00:00:00Z,,,\n"  # unknown type: skipped and counted
        "w3,content_download,1792886400000,,ebook,email\n"  # epoch milliseconds (2026-10-25)
        "zz,email_open,2026-10-22T00:00:00Z,,,\n",  # unknown lead
        encoding="utf-8",
    )
    return leads, activities


def test_score_writes_the_documented_columns(tmp_path: Path, export: tuple[Path, Path]) -> None:
    leads, activities = export
    out = tmp_path / "scored.csv"
    done = run("score", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--activities", str(activities),
               "--as-of", AS_OF, "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert tuple(rows[0].keys()) == SCORED_COLUMNS
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"w1", "w2", "w3", "w4"}
    assert (by_id["w1"]["score"], by_id["w1"]["fit_score"], by_id["w1"]["engagement_score"], by_id["w1"]["stage"]) == (
        "106", "45", "61", "MQL")
    assert by_id["w1"]["grade"] == "A1"
    assert by_id["w2"]["score"] == "0"  # -10 free email, floored at 0 by the total cap
    assert "Free email domain" in by_id["w2"]["reason"]
    assert by_id["w3"]["score"] == str(10 + 10 + 5 + 10)  # healthcare, director, europe, email download
    assert len({r["model_version"] for r in rows}) == 1
    assert all(len(r["reason"]) <= 255 for r in rows)
    # Every skipped or repaired row is counted in the summary.
    for expected in ("lead rows without id (skipped)", "activities with bad occurred_at (skipped)",
                     "activities of unknown type (skipped)", "activities of unknown leads (ignored)"):
        assert f"1 x {expected}" in done.stderr
    assert "Traceback" not in done.stderr


def test_score_is_reproducible_with_as_of(tmp_path: Path, export: tuple[Path, Path]) -> None:
    leads, activities = export
    outputs = []
    for n in range(2):
        out = tmp_path / f"scored{n}.csv"
        assert run("score", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--activities", str(activities),
                   "--as-of", AS_OF, "--out", str(out)).returncode == 0
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_explain_prints_the_breakdown(export: tuple[Path, Path]) -> None:
    leads, activities = export
    done = run("explain", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--activities", str(activities),
               "--as-of", AS_OF, "--id", "w1")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "fit 45 + engagement 61 = 106" in text
    assert "Held at MQL: missing budget, authority, need, timeline for SQL" in text
    assert "Attended webinar" in text  # zero-point parts are shown in the breakdown
    assert "stage MQL, grade A1" in text


def test_explain_unknown_id_is_a_clear_error(export: tuple[Path, Path]) -> None:
    leads, _ = export
    done = run("explain", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--id", "nope")
    assert done.returncode == 2
    assert "no lead with id 'nope'" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "--as-of: expected an ISO 8601 instant"),
        (["--leads", "/nonexistent/leads.csv"], "No such file or directory"),
    ],
)
def test_score_user_errors_exit_2(tmp_path: Path, export: tuple[Path, Path], args: list[str], message: str) -> None:
    leads, _ = export
    base = {"--leads": str(leads), "--out": str(tmp_path / "o.csv"), "--config": str(EXAMPLE_CONFIG)}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    done = run("score", *[x for kv in base.items() for x in kv])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_leads_csv_without_id_column_is_a_clear_error(tmp_path: Path) -> None:
    leads = tmp_path / "leads.csv"
    leads.write_text("name,industry\nx,Technology\n")
    done = run("score", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 2
    assert "missing column(s) id" in done.stderr


def test_demo_runs_offline(tmp_path: Path) -> None:
    done = run("demo", "--offline", "--leads", "300", "--out-dir", str(tmp_path / "demo"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Stage distribution" in done.stdout and "Top 10 leads" in done.stdout
    assert "Try next" in done.stdout
    scored = list(csv.DictReader((tmp_path / "demo" / "scored.csv").open(encoding="utf-8")))
    assert len(scored) == 300
    # The files it suggests trying next really work with the CLI.
    again = run("score", "--config", str(EXAMPLE_CONFIG), "--leads", str(tmp_path / "demo" / "leads.csv"),
                "--activities", str(tmp_path / "demo" / "activities.csv"), "--as-of", AS_OF,
                "--out", str(tmp_path / "again.csv"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == (tmp_path / "demo" / "scored.csv").read_text(encoding="utf-8")


#: Runs the CLI with scikit-learn (the [predictive] extra's first module) made unimportable.
WITHOUT_SKLEARN = (
    "import runpy, sys; sys.modules['sklearn'] = None; sys.argv = ['leadscore', *sys.argv[1:]]; "
    "runpy.run_module('leadscore.agent.cli', run_name='__main__')"
)


def test_commands_without_the_predictive_extra_run_or_name_it(tmp_path: Path, export: tuple[Path, Path]) -> None:
    """`validate`, `score` and `--help` never import scikit-learn; `train` names the extra to install, in one line."""
    def bare(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", WITHOUT_SKLEARN, *args], capture_output=True, text=True, timeout=120)

    assert bare("--help").returncode == 0
    done = bare("validate", "--config", str(EXAMPLE_CONFIG))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"
    leads, activities = export
    scored = bare("score", "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--as-of", AS_OF, "--out", str(tmp_path / "o.csv"))
    assert scored.returncode == 0, scored.stderr
    for command in (["train", "--out", str(tmp_path / "m.json")], ["report", "--out", str(tmp_path / "r.html")]):
        missing = bare(*command, "--config", str(EXAMPLE_CONFIG), "--leads", str(leads), "--label-column", "custom.converted")
        assert missing.returncode == 2, missing.stderr
        assert missing.stderr.strip() == (
            f"leadscore {command[0]} needs the predictive extra (sklearn not installed): pip install 'leadscore[predictive]'"
        ), missing.stderr
    assert not (tmp_path / "m.json").exists()
