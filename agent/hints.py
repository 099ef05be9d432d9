"""What the "try next" lines may tell a user, depending on how leadscore was installed: from a
clone (``make``: a ``.venv`` to activate, ``config.example.toml`` beside them) or from a wheel
(``pip install leadscore``: neither exists, the example config ships inside the package)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

EXAMPLE = "config.example.toml"


def example_config() -> Path:
    """The example config: the clone's when run from one, else the copy shipped in the package."""
    local = Path(EXAMPLE)
    if local.is_file():
        return local
    return Path(str(resources.files("leadscore.agent") / "example_config.toml"))


def activation_hint() -> str | None:
    """``source .venv/bin/activate`` when the clone's virtualenv is here and not active (``make
    demo`` runs ``.venv/bin/leadscore`` by path, so a bare ``leadscore`` would not be found);
    None for a wheel install or an active environment."""
    venv = Path(".venv")
    if not (venv / "bin" / "activate").is_file():
        return None
    active = os.environ.get("VIRTUAL_ENV")
    if active and Path(active).resolve() == venv.resolve():
        return None
    return "source .venv/bin/activate"
