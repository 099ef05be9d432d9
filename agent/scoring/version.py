"""The model version: a stable hash of the normalised model.

Two configs that mean the same thing (keys in another order, ``20`` written as ``20.0``,
defaults spelled out or left implicit) get the same version; any change that can move a score,
a stage or a reason gets a new one. Every result carries it, so a CRM value can always be traced
to the exact model that wrote it.
"""

from __future__ import annotations

import hashlib
import json

from leadscore.agent.scoring.model import NamedModel, ScoringModel


def model_version(model: ScoringModel, length: int = 12) -> str:
    """The model's hash; a named model's (``[[models]]``) is prefixed with its name
    (``emea:3f2a...``), so a CRM value or a history row names the model that wrote it."""
    normalised = model.model_dump(mode="json", by_alias=True)
    blob = json.dumps(normalised, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]
    return f"{model.name}:{digest}" if isinstance(model, NamedModel) else digest
