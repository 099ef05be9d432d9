"""The service's own settings: the ``[agent]`` and ``[schedule]`` tables of the config.

Everything here has a default that suits a single host running the embedded SQLite store, so a
config with only ``[scoring]`` and one ``[connectors.NAME]`` table runs as a service as it is.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

_STRICT = ConfigDict(extra="forbid", frozen=True)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> Any:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` or a number of seconds, as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as '15m', '2h' or a number of seconds, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "").lower() or None]
    else:
        raise ValueError(f"expected a duration such as '15m', '2h' or a number of seconds, got {value!r}")
    if seconds <= 0:
        raise ValueError(f"expected a duration above zero, got {value!r}")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def check_cron(expression: str, timezone: str = "UTC") -> str:
    """A five-field crontab expression APScheduler accepts (``"30 2 * * *"``)."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(expression, timezone=timezone)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"expected a crontab expression such as '30 2 * * *', got {expression!r} ({exc})") from None
    return expression


class ScheduleOverride(BaseModel):
    """One connector's departures from the ``[schedule]`` defaults: ``[schedule.connectors.NAME]``."""

    model_config = _STRICT
    sync_every: Duration | None = None
    sync_cron: str | None = None
    rescore_cron: str | None = None
    rescore: bool | None = None
    backfill_cron: str | None = None
    backfill: bool | None = None
    reconcile_cron: str | None = None
    reconcile: bool | None = None

    @field_validator("sync_cron", "rescore_cron", "backfill_cron", "reconcile_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None

    @model_validator(mode="after")
    def _one_sync_trigger(self) -> ScheduleOverride:
        if self.sync_every is not None and self.sync_cron is not None:
            raise ValueError("give sync_every or sync_cron, not both")
        return self


class Schedule(BaseModel):
    """When each connector's jobs run. An incremental sync every ``sync_every`` (or on
    ``sync_cron``), and a rescore pass from the mirror on ``rescore_cron`` (nightly by default),
    which is how decay reaches the CRM without new activity.

    A run never overlaps another of the same job; a tick missed while one ran is coalesced into
    one run, and a tick later than ``misfire_grace`` (the host slept) is skipped.
    """

    model_config = _STRICT
    sync_every: Duration | None = timedelta(minutes=15)
    sync_cron: str | None = None
    rescore: bool = True
    rescore_cron: str = "30 2 * * *"
    #: A scheduled full backfill (resumable, under the connector's lease); off unless given.
    backfill_cron: str | None = None
    #: Drift repair: the owned fields read back from the CRM and rewritten where they differ.
    reconcile: bool = True
    reconcile_cron: str = "0 4 * * 0"
    timezone: str = "UTC"
    misfire_grace: Duration = timedelta(minutes=10)
    #: Run one sync as soon as the service starts, rather than waiting for the first tick.
    sync_on_start: bool = True
    connectors: dict[str, ScheduleOverride] = {}

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"expected an IANA time zone such as 'UTC' or 'Europe/Paris', got {value!r}") from None
        return value

    @field_validator("sync_cron", "rescore_cron", "backfill_cron", "reconcile_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return check_cron(value) if value is not None else None

    @model_validator(mode="before")
    @classmethod
    def _cron_replaces_interval(cls, data: Any) -> Any:
        # A sync_cron given without sync_every replaces the default interval.
        if isinstance(data, dict) and data.get("sync_cron") is not None and "sync_every" not in data:
            data = {**data, "sync_every": None}
        return data

    @model_validator(mode="after")
    def _one_sync_trigger(self) -> Schedule:
        if self.sync_every is not None and self.sync_cron is not None:
            raise ValueError("give sync_every or sync_cron, not both")
        if self.sync_every is None and self.sync_cron is None:
            raise ValueError("give sync_every or sync_cron")
        return self

    def for_connector(self, name: str) -> ResolvedSchedule:
        """The schedule of one connector: its override over the defaults."""
        override = self.connectors.get(name) or ScheduleOverride()
        every, cron = self.sync_every, self.sync_cron
        if override.sync_every is not None:
            every, cron = override.sync_every, None
        elif override.sync_cron is not None:
            every, cron = None, override.sync_cron
        return ResolvedSchedule(
            sync_every=every,
            sync_cron=cron,
            rescore=self.rescore if override.rescore is None else override.rescore,
            rescore_cron=override.rescore_cron or self.rescore_cron,
            backfill_cron=None if override.backfill is False else (override.backfill_cron or self.backfill_cron),
            reconcile_cron=(None if not (self.reconcile if override.reconcile is None else override.reconcile)
                            else override.reconcile_cron or self.reconcile_cron),
            timezone=self.timezone,
            misfire_grace=self.misfire_grace,
        )


class ResolvedSchedule(BaseModel):
    model_config = ConfigDict(frozen=True)
    sync_every: timedelta | None
    sync_cron: str | None
    rescore: bool
    rescore_cron: str
    #: None: no scheduled backfill / reconcile for this connector.
    backfill_cron: str | None = None
    reconcile_cron: str | None = None
    timezone: str
    misfire_grace: timedelta


LogFormat = Literal["auto", "json", "console"]
LogLevel = Literal["debug", "info", "warning", "error"]


class AgentSettings(BaseModel):
    """The ``[agent]`` table: where state lives, how the service logs and reports."""

    model_config = _STRICT
    #: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``; None: the SQLite file
    #: ``leadscore-state.db`` in the working directory (the service unit's StateDirectory).
    state_url: str | None = None
    #: ``auto``: JSON lines when stderr is not a terminal (a service), readable on one.
    log_format: LogFormat = "auto"
    log_level: LogLevel = "info"
    #: ``/metrics`` (Prometheus) and ``/healthz`` while ``leadscore run`` serves; 0 turns them off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    #: A job's lease in the state store; renewed every third of it while the job runs (so it
    #: need not outlast a batch), and a crashed agent's connector is free again within this long.
    lease: Duration = timedelta(minutes=2)
    #: Changed records written per unit of work in a rescore pass (a crash redoes at most this many).
    rescore_batch: int = Field(default=1000, ge=1, le=100_000)
    #: A failed write is retried on the next run at the earliest after this long.
    retry_after: Duration = timedelta(minutes=5)
    #: The run log, daily API counts and finished backfills older than this are pruned by the
    #: nightly rescore (score history and last written values are kept).
    keep_runs: Duration = timedelta(days=90)

    @field_validator("state_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" not in value:
            raise ValueError(
                f"expected a database URL such as sqlite:///leadscore-state.db or "
                f"postgresql+psycopg://user@host/leadscore, got {value.split('@')[-1]!r}"
            )
        return value
