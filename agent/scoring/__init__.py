"""The shared scoring engine: rules, decay, qualification, grades and reasons."""

from agent.scoring.engine import ScoringEngine, round_points
from agent.scoring.model import ScoringModel
from agent.scoring.reasons import format_reason
from agent.scoring.version import model_version

__all__ = ["ScoringEngine", "ScoringModel", "format_reason", "model_version", "round_points"]
