"""The shared scoring engine: rules, decay, qualification, grades and reasons."""

from leadscore.agent.scoring.engine import ScoringEngine, round_points
from leadscore.agent.scoring.model import ScoringModel
from leadscore.agent.core.reasons import format_reason
from leadscore.agent.scoring.version import model_version

__all__ = ["ScoringEngine", "ScoringModel", "format_reason", "model_version", "round_points"]
