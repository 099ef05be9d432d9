"""What the commands share: the consoles, the one ``--config`` option, the one reading of an
instant (every ``--as-of`` and ``--since``), the CSV export options, loading a config for a
command that runs the agent, and loading the ``[predictive]`` extra's modules."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Annotated, Mapping, Optional

import typer
from rich.console import Console

from leadscore.agent.config import AgentConfig, load_config
from leadscore.agent.core import extras
from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.csvfiles import Issues, parse_timestamp, read_activities, read_leads
from leadscore.agent.logs import configure_logging

def _console(stderr: bool = False) -> Console:
    """A console that, off a terminal (a log file, a pipe, a CI job), prints tables at their full
    width rather than squeezed into 80 columns ("conn...", "back..."): ``COLUMNS`` when set, else
    wide enough for any row leadscore prints."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else OFF_TERMINAL_WIDTH
    return Console(stderr=stderr, width=width)


#: Off a terminal: the width tables and rules get; a longer cell (a reason line) folds within it.
OFF_TERMINAL_WIDTH = 200

out = _console()
err = _console(stderr=True)

DEFAULT_CONFIG = Path("leadscore.toml")
ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="Agent config file (TOML).")]
ConnectorOption = Annotated[
    Optional[list[str]], typer.Option("--connector", help="Only this connector (repeatable; default: all configured).")
]
LeadsOption = Annotated[Path, typer.Option("--leads", help="Lead CSV: id plus canonical field columns.")]
StoreOrLeadsOption = Annotated[Optional[Path], typer.Option(
    "--leads", help="Lead CSV: id plus canonical field columns (an import path). Default: the config's state store - "
                    "the mirrored leads as they looked over time and the outcomes the syncs pulled.")]
ActivitiesOption = Annotated[
    Optional[Path], typer.Option("--activities", help="Activity CSV: lead_id,type,occurred_at plus property columns.")
]
AsOfOption = Annotated[Optional[str], typer.Option("--as-of", help="Score as of this ISO 8601 instant (default: now).")]
OutcomesOption = Annotated[Optional[Path], typer.Option("--outcomes", help="Outcomes CSV: lead_id,converted[,occurred_at].")]
LabelOption = Annotated[Optional[str], typer.Option("--label-column", help="A lead column holding the outcome (e.g. custom.converted).")]


def now() -> datetime:
    """The instant a command works as of when it is given none (whole seconds, UTC)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def parse_instant(option: str, value: str | None) -> datetime | None:
    """The value of an instant option (``--as-of``, ``--since``; None when not given): ISO 8601
    (``Z`` allowed), a bare date (midnight UTC) or epoch seconds. Anything else is a
    :class:`ConfigError` naming the option."""
    if value is None:
        return None
    moment = parse_timestamp(value)
    if moment is None:
        raise ConfigError(
            f"{option}: expected an ISO 8601 instant such as 2026-11-01T00:00:00Z or a date such as 2026-11-01, got {value!r}"
        )
    return moment


def as_of_or_now(value: str | None) -> datetime:
    """``--as-of`` when given, else now."""
    return parse_instant("--as-of", value) or now()


def predictive_modules(needed_for: str, *names: str) -> list[ModuleType]:
    """The ``leadscore.agent.predictive`` submodules a command needs (numpy, scikit-learn...),
    loaded once it runs; a missing ``[predictive]`` extra is one line naming what to install."""
    return [extras.load(f"leadscore.agent.predictive.{name}", "predictive", needed_for) for name in names]


def loop_modules(needed_for: str, *names: str) -> list[ModuleType]:
    """The ``leadscore.agent.loop`` submodules a command needs (training from the state store, the
    live challenger), loaded like :func:`predictive_modules`."""
    return [extras.load(f"leadscore.agent.loop.{name}", "predictive", needed_for) for name in names]


def read_export(leads: Path, activities: Path | None) -> tuple[Issues, list[Lead], Mapping[str, list[Activity]]]:
    """A CSV export: its leads, their activities by lead id, and what was skipped or repaired."""
    issues = Issues()
    lead_rows = read_leads(leads, issues)
    by_lead = read_activities(activities, issues, {lead.id for lead in lead_rows}) if activities else {}
    return issues, lead_rows, by_lead


def print_issues(issues: Issues) -> None:
    if issues:
        err.print(f"[yellow]warnings ({sum(issues.counts.values())}); these rows were scored with what was usable or skipped:[/]")
        for line in issues.lines():
            err.print(f"  {line}", highlight=False, markup=False)


def prepare(path: Path, *, service: bool = False) -> AgentConfig:
    """Load the config of a command that runs the agent and set up logging (JSON when not on a
    terminal) with its secrets redacted."""
    config = load_config(path)
    level = config.agent.log_level if service else ("warning" if config.agent.log_level == "info" else config.agent.log_level)
    configure_logging(config.agent.log_format, level)  # load_config registered the secrets it resolved
    return config
