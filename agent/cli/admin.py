"""Setting the agent up: ``validate`` (the config and its secrets) and ``setup`` (the score fields in each CRM)."""

from __future__ import annotations

import typer

from leadscore.agent.cli.options import DEFAULT_CONFIG, ConfigOption, ConnectorOption, err, out
from leadscore.agent.cli.sync import open_agent
from leadscore.agent.config import load_config, require_secrets
from leadscore.agent.core.contract import WriteSpec
from leadscore.agent.scoring import ScoringEngine


def validate(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check a config file and the secrets it names; print OK, or one line per problem with its
    key path (exit 2)."""
    loaded = load_config(config)
    require_secrets(loaded)  # an unset *_env variable, an unreadable secret file
    engine = ScoringEngine(loaded.scoring)
    out.print("OK", highlight=False)
    err.print(
        f"model {loaded.scoring.name!r} version {engine.version}: {len(loaded.scoring.rules)} rules, "
        f"{len(loaded.scoring.stages)} stages",
        highlight=False,
    )


def setup(config: ConfigOption = DEFAULT_CONFIG, connector: ConnectorOption = None) -> None:
    """Create the configured write fields in each CRM (idempotent), then check them."""
    loaded, agent = open_agent(config, connector)
    code = 0
    try:
        for name, jobs in agent.jobs.items():
            crm = jobs.connector()
            spec = WriteSpec(
                values=frozenset(crm.write_values),
                stages=[s.name for s in loaded.scoring.stages],
                reason_max_length=loaded.scoring.reason_max_length,
            )
            report = crm.setup(spec)
            out.print(
                f"{name}: created {', '.join(report.created) or 'nothing'}; already there: {', '.join(report.existing) or 'nothing'}",
                highlight=False,
            )
            for step in report.todo:
                out.print(f"  to do by hand: {step}", highlight=False)
            check = crm.check()
            if check.ok:
                out.print(f"{name}: check OK", highlight=False)
            else:
                code = 2
                for problem in check.problems:
                    err.print(f"{name}: {problem}", highlight=False)
    finally:
        agent.close()
    raise typer.Exit(code)
