"""Errors of the predictive path, all :class:`leadscore.agent.core.errors.LeadscoreError`s so the CLI reports
them as one readable message (exit 2), never a traceback."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from leadscore.agent.core.errors import LeadscoreError

if TYPE_CHECKING:
    from leadscore.agent.predictive.leakage import LeakageFinding


class PredictiveError(LeadscoreError):
    """Base class of the predictive path's errors."""


class LeakageError(PredictiveError):
    """Training refused: some fields separate the outcomes almost perfectly, which usually means
    they were filled in after the outcome. Carries the findings; ``force=True`` overrides."""

    def __init__(self, findings: Sequence[LeakageFinding]) -> None:
        self.findings = tuple(findings)
        lines = ["probable leakage: these inputs separate converted from non-converted leads almost perfectly"]
        lines += [f"  {f.describe()}" for f in self.findings]
        names = ", ".join(repr(f.name) for f in self.findings)
        lines.append(f"exclude them (predictive.exclude = [{names}]) or train with force=True if they are known before the outcome")
        super().__init__("\n".join(lines))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.findings)


class InsufficientOutcomesError(PredictiveError):
    """Too few outcomes of one class to learn from; the rules model keeps scoring."""


class ArtifactError(PredictiveError):
    """A saved model cannot be loaded: unknown format or version, bad shape, or its contents do
    not match its recorded version hash (edited or corrupted)."""
