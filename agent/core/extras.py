"""The optional parts of leadscore, installed as pip extras, and the one way to load them.

``pip install leadscore`` is the sync agent: the rules engine (numpy: it scores batches over
columns), both connectors and SQLite state. The rest is opt-in, so a service that only syncs never
installs (or imports) scikit-learn or matplotlib:

- ``[predictive]``: training, the predictive and hybrid scorers, the evaluation report
  (scikit-learn, matplotlib, Jinja2);
- ``[postgres]``: PostgreSQL state (``state_url = "postgresql://..."``, through psycopg);
- ``[emulators]``: the local CRM emulators behind ``leadscore demo`` and ``leadscore emulator``;
- ``[all]``: everything (what ``make install``, the demo and the tests use).

Code that needs an extra loads it through :func:`load` - the only function-local import of our
own modules the layer contract allows - so a missing extra is one clear :class:`MissingExtra`
("... needs the predictive extra: pip install 'leadscore[predictive]'"), never an ImportError
traceback from deep inside a command.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from leadscore.agent.core.errors import ConfigError

#: Each extra, and the third-party modules whose presence shows it is installed.
EXTRAS: dict[str, tuple[str, ...]] = {
    "predictive": ("sklearn", "matplotlib", "jinja2"),
    "postgres": ("psycopg",),
    "emulators": ("trustme",),
}


class MissingExtra(ConfigError):
    """A command needs an extra that is not installed; the message says how to install it."""


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported (empty: installed)."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, needed_for: str) -> None:
    """Raise :class:`MissingExtra` unless ``extra`` is installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtra(
            f"{needed_for} needs the {extra} extra ({', '.join(absent)} not installed): "
            f"pip install 'leadscore[{extra}]'"
        )


def load(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import ``module`` (one of ours that depends on ``extra``) once it is needed."""
    require(extra, needed_for)
    return importlib.import_module(module)
