"""A CRM made of CSV files in one directory: ``leads.csv`` (``id``, ``modified_at``, canonical fields)
and ``activities.csv`` (``lead_id``, ``type``, ``occurred_at``) are read; scores are written to
``crm.csv`` (``id`` and the ``write`` columns), whose stage picklist is ``stages.txt``. A pull is one
batch; its cursor is the last ``modified_at``. Imports only the public contract."""

from __future__ import annotations

import csv
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

from pydantic import BaseModel, ConfigDict

from leadscore.connectors.base import (Activity, AuthError, CheckReport, ConfigError, Cursor, Lead, OutcomeBatch, PullBatch,
                                       PullNeeds, ScoreUpdate, SetupReport, TransientError, WriteFieldMap, WriteResult,
                                       WriteSpec, WriteStatus, connector_config)


class CsvWrite(WriteFieldMap):
    score: str | None = "leadscore_score"
    stage: str | None = "leadscore_stage"
    reason: str | None = "leadscore_reason"


class CsvConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    directory: Path
    write: CsvWrite = CsvWrite()


def instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class CsvConnector:
    name: ClassVar[str] = "csv"
    object_types: ClassVar[tuple[str, ...]] = ("lead",)
    config_model: ClassVar[type[BaseModel] | None] = CsvConfig

    def __init__(self, config: Mapping[str, Any] | CsvConfig) -> None:
        self.config = connector_config("csv", CsvConfig, config)
        self.dir, self.columns, self.calls = self.config.directory, self.config.write.mapping(), Counter[str]()

    @property
    def write_values(self) -> frozenset[str]:
        return frozenset(self.columns)

    def _read(self, name: str, family: str) -> tuple[list[str], list[dict[str, str]]]:
        """(header, rows) of one file; nothing for a missing one."""
        self.calls[family] += 1
        try:
            with open(self.dir / name, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                return list(reader.fieldnames or ()), list(reader)
        except FileNotFoundError:
            return [], []
        except PermissionError:
            raise AuthError(f"{self.dir / name}: permission denied to the agent's login") from None
        except OSError as exc:
            raise TransientError(f"{self.dir / name}: {exc}") from None

    def _save(self, name: str, header: Sequence[str], rows: Sequence[Mapping[str, str]]) -> None:
        with open(self.dir / f".{name}.tmp", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, header)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(self.dir / f".{name}.tmp", self.dir / name)  # atomic: a reader sees the old file or the new

    def _stages(self) -> list[str]:
        path = self.dir / "stages.txt"
        return path.read_text(encoding="utf-8").split() if path.is_file() else []

    def check(self) -> CheckReport:
        problems = [] if (self.dir / "leads.csv").is_file() else [f"{self.dir}: no leads.csv"]
        header, _ = self._read("crm.csv", "crm.read")
        problems += [f"crm.csv has no column {c} (run leadscore setup)" for c in self.columns.values() if c not in header]
        return CheckReport(ok=not problems, problems=problems)

    def setup(self, spec: WriteSpec) -> SetupReport:
        header, rows = self._read("crm.csv", "crm.read")
        created = [self.columns[v] for v in sorted(spec.values) if v in self.columns and self.columns[v] not in header]
        if created or not header:
            self._save("crm.csv", (header or ["id"]) + created, rows)
        stages = [s for s in spec.stages if s not in self._stages()]
        if stages:
            (self.dir / "stages.txt").write_text("\n".join(self._stages() + stages) + "\n", encoding="utf-8")
        return SetupReport(created=created + [f"stage {s}" for s in stages], existing=[c for c in header if c != "id"])

    def _changed(self, cursor: Cursor, until: datetime | None) -> list[dict[str, str]]:
        header, rows = self._read("leads.csv", "leads.read")
        if not header:
            raise ConfigError(f"connectors.csv.directory: no leads.csv in {self.dir}")
        after = instant(cursor.value) if cursor.value else None
        rows = [r for r in rows if (after is None or instant(r["modified_at"]) > after)
                and (until is None or instant(r["modified_at"]) <= until)]
        return sorted(rows, key=lambda r: (instant(r["modified_at"]), r["id"]))

    def pull(self, cursor: Cursor, *, until: datetime | None = None, needs: PullNeeds | None = None) -> Iterator[PullBatch]:
        rows = self._changed(cursor, until)
        if not rows:
            return
        ids = {r["id"] for r in rows}
        leads = [Lead(r["id"], "lead", {k: v for k, v in r.items() if k not in ("id", "modified_at") and v
                                        and (needs is None or k in needs.fields)}, updated_at=instant(r["modified_at"]))
                 for r in rows]
        activities = [Activity(a["lead_id"], a["type"], instant(a["occurred_at"])) for a in self._read("activities.csv", "activities.read")[1]
                      if a["lead_id"] in ids and (needs is None or a["type"] in needs.activity_types)]
        yield PullBatch(leads, activities, Cursor(cursor.object_type, rows[-1]["modified_at"]))

    def count(self, cursor: Cursor, *, until: datetime | None = None) -> int | None:
        return len(self._changed(cursor, until))

    def identity(self) -> str | None:
        return str(self.dir.resolve())

    def pull_outcomes(self, cursor: Cursor, *, until: datetime | None = None) -> Iterator[OutcomeBatch]:
        return iter(())  # the files carry no conversions, wins or losses

    def write(self, updates: Sequence[ScoreUpdate]) -> list[WriteResult]:
        known = {r["id"] for r in self._read("leads.csv", "leads.read")[1]}
        header, rows = self._read("crm.csv", "crm.read")
        by_id, stages, results = {r["id"]: r for r in rows}, self._stages(), []
        for update in updates:
            values = {self.columns[k]: "" if v is None else str(v) for k, v in update.values.items() if k in self.columns}
            refused = (("NOT_FOUND", "no such lead in leads.csv") if update.record_id not in known else
                       ("NO_COLUMN", "crm.csv lacks a column: run leadscore setup") if set(values) - set(header) else
                       ("BAD_STAGE", f"not one of {stages}") if stages and update.values.get("stage") not in (None, *stages) else None)
            if refused is None:
                by_id.setdefault(update.record_id, {"id": update.record_id}).update(values)
            results.append(WriteResult(update.record_id, WriteStatus.PERMANENT, *refused) if refused else WriteResult(update.record_id, WriteStatus.OK))
        if any(r.ok for r in results):
            self.calls["crm.write"] += 1
            self._save("crm.csv", header, list(by_id.values()))
        return results

    def api_calls(self) -> Mapping[str, int]:
        return dict(self.calls)

    def close(self) -> None:
        pass
