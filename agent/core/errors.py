"""One error taxonomy for the whole agent.

Connectors map their SDK's exceptions onto these classes, so the pipeline decides what to do
(stop with a message, retry, pause, skip a record) from the class alone, never from a CRM's
status codes. Modelled on the Airbyte CDK's error-resolution table.
"""

from __future__ import annotations

from datetime import datetime


class LeadscoreError(Exception):
    """Base class of every error the agent raises on purpose."""


class ConfigError(LeadscoreError):
    """The configuration is unusable. Carries every problem found, one line each.

    Each problem names its key path (``scoring.rules[3].points``) and what was expected, so an
    admin can fix them all in one pass rather than one per run.
    """

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("\n".join(self.problems))


class AuthError(LeadscoreError):
    """Credentials were refused. Not retried: a person must fix the token or secret."""


class TransientError(LeadscoreError):
    """A failure worth retrying as-is: a timeout, a dropped connection, a 5xx."""


class RateLimited(TransientError):
    """The CRM asked us to slow down; ``retry_after`` is in seconds when it said so."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExhausted(LeadscoreError):
    """A daily or budgeted allocation is spent. The connector pauses until ``resume_at``;
    it is never retried in a loop."""

    def __init__(self, message: str, resume_at: datetime | None = None) -> None:
        super().__init__(message)
        self.resume_at = resume_at


class BadRecord(LeadscoreError):
    """One record cannot be used as it is. Logged and counted; the run goes on."""

    def __init__(self, message: str, record_id: str | None = None) -> None:
        super().__init__(message)
        self.record_id = record_id


class StalledCursorError(LeadscoreError):
    """A CRM answered a page that does not move the pull forward (the same ``after`` token or
    query locator again, or keys that do not increase). Following it would loop forever, so
    the run fails with this message and the cursor stays where it was."""
