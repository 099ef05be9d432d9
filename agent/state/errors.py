"""The state store's errors, in the agent's one taxonomy (:mod:`leadscore.agent.core.errors`).

A database failure (full disk, unreachable server, a schema from a newer leadscore) reaches the
pipeline as one :class:`StateError` with one readable line, never as a driver exception: the
pipeline then stops the run with that message, and the transaction it interrupted has already been
rolled back, so nothing of the batch is half-applied and the next run redoes it.
"""

from __future__ import annotations

from datetime import datetime

from leadscore.agent.core.errors import LeadscoreError


class StateError(LeadscoreError):
    """The state store cannot be read or written. The message names the store (password hidden)
    and what failed; the failed transaction was rolled back whole."""


class LeaseHeld(LeadscoreError):
    """Another agent process holds the lease on this connector's job. Not a fault: the caller
    skips this run, or waits for ``expires_at``."""

    def __init__(self, message: str, owner: str | None = None, expires_at: datetime | None = None) -> None:
        super().__init__(message)
        self.owner = owner
        self.expires_at = expires_at

