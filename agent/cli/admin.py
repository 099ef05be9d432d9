"""Setting the agent up: ``validate`` (the config and its secrets) and ``setup`` (the score fields in each CRM)."""

from __future__ import annotations

import typer

from leadscore.agent.cli.options import DEFAULT_CONFIG, ConfigOption, ConnectorOption, err, out
from leadscore.agent.cli.sync import open_agent
from leadscore.agent.config import load_config, require_secrets
from leadscore.agent.scoring import ScoringEngine
from leadscore.agent.scoring.model import NamedModel


def validate(config: ConfigOption = DEFAULT_CONFIG) -> None:
    """Check a config file and the secrets it names; print OK, or one line per problem with its
    key path (exit 2)."""
    loaded = load_config(config)
    require_secrets(loaded)  # an unset *_env variable, an unreadable secret file
    out.print("OK", highlight=False)
    for model in [loaded.scoring, *loaded.models]:
        takes = "people no other model takes" if model is loaded.scoring else _takes(model)
        err.print(
            f"model {model.name!r} version {ScoringEngine(model).version}: {len(model.rules)} rules, "
            f"{len(model.stages)} stages; scores {takes}",
            highlight=False, soft_wrap=True,
        )


def _takes(model: NamedModel) -> str:
    what = "accounts" if model.applies_to == "accounts" else "people"
    if model.objects:
        what += f" ({', '.join(model.objects)})"
    if model.when is not None:
        what += " when " + model.when.model_dump_json(by_alias=True, exclude_none=True, exclude_defaults=True)
    if model.order is not None:
        what += f", order {model.order}"
    return what


def setup(config: ConfigOption = DEFAULT_CONFIG, connector: ConnectorOption = None) -> None:
    """Create the configured write fields in each CRM (idempotent), then check them."""
    loaded, agent = open_agent(config, connector)
    code = 0
    try:
        for name, jobs in agent.jobs.items():
            crm = jobs.connector()
            spec = loaded.write_spec(frozenset(crm.write_values), name)
            report = crm.setup(spec)
            out.print(
                f"{name}: created {', '.join(report.created) or 'nothing'}; already there: {', '.join(report.existing) or 'nothing'}",
                highlight=False, soft_wrap=True,
            )
            for step in report.todo:
                out.print(f"  to do by hand: {step}", highlight=False, soft_wrap=True)
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
