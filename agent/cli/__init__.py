"""The ``leadscore`` command line: the typer app, one module per family of commands.

- :mod:`.admin`: ``validate``, ``setup``;
- :mod:`.scoring`: ``score``, ``explain`` (a CSV export, offline);
- :mod:`.predictive`: ``train``, ``learn-points``, ``report``, ``promote`` (the ``[predictive]`` extra);
- :mod:`.sync`: ``run``, ``sync``, ``backfill``, ``rescore``, ``reconcile``, ``status``, ``history``, ``preview``;
- :mod:`.demo`: ``demo``, ``emulator`` (the ``[emulators]`` extra, but ``demo --offline``);
- :mod:`.options`: what they share (the ``--config`` option, the one instant parser, the consoles).

Exit codes: 0 success, 2 a problem a person must fix (bad config, missing secret or extra,
refused credentials, unreadable file, bad option), 1 any other failure (the CRM unreachable, the
state store unwritable, or unexpected: one line, no traceback; ``LEADSCORE_DEBUG=1`` shows it);
the sync commands add 3 (another agent holds the connector's lease, see :mod:`.sync`).
"""

from __future__ import annotations

import os
import sys
from typing import Callable

import typer

from leadscore.agent.cli import admin, demo, predictive, scoring, sync
from leadscore.agent.cli.options import err
from leadscore.agent.core.errors import AuthError, ConfigError, LeadscoreError
from leadscore.agent.state import LeaseHeld

#: Every command, in the order ``leadscore --help`` lists them.
COMMANDS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("validate", admin.validate),
    ("score", scoring.score),
    ("explain", scoring.explain),
    ("demo", demo.demo),
    ("train", predictive.train),
    ("learn-points", predictive.learn_points),
    ("report", predictive.report),
    ("promote", predictive.promote),
    ("run", sync.run),
    ("sync", sync.sync),
    ("backfill", sync.backfill),
    ("rescore", sync.rescore),
    ("reconcile", sync.reconcile),
    ("setup", admin.setup),
    ("status", sync.status),
    ("history", sync.history),
    ("preview", sync.preview),
    ("emulator", demo.emulator),
)

app = typer.Typer(
    name="leadscore",
    help="Transparent, versioned lead scoring as code, synced to your CRM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)


def main() -> None:
    """Console-script entry point: user errors exit 2 with their message, never a traceback."""
    try:
        app()  # standalone: usage errors exit 2 and --help exits 0 inside; ours propagate here
    except ConfigError as exc:
        for problem in exc.problems:
            err.print(problem, highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except (AuthError, LeaseHeld) as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except LeadscoreError as exc:  # the CRM unreachable, the state store unwritable: may pass
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except OSError as exc:
        err.print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), highlight=False, markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if os.environ.get("LEADSCORE_DEBUG"):
            raise
        err.print(f"error: unexpected {type(exc).__name__}: {exc} (set LEADSCORE_DEBUG=1 for details)", markup=False)
        sys.exit(1)


__all__ = ["COMMANDS", "app", "main"]
