"""The CSV connector's conformance harness: a fresh directory whose files it edits as a user would
(in a spreadsheet: rewrite the file, stamp ``modified_at``) and reads back."""

from __future__ import annotations

import csv
import random
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import ClassVar, Mapping

from leadscore_csv import CsvConnector, CsvWrite

LEAD_COLUMNS = ["id", "modified_at", "email", "title", "industry", "country"]
TITLES = ["CEO", "CTO", "VP Sales", "Marketing Manager", "Director of IT", "Analyst", "Student"]
INDUSTRIES = ["Technology", "Software", "Finance", "Retail", "Education"]
COUNTRIES = ["United States", "Canada", "Germany", "India", "Brazil"]
KINDS = ["meeting", "call", "email_reply", "email_open", "page_view"]
NO_HTTP = "a directory of files has no HTTP: no 429, 5xx or dropped connection to inject"


class CsvHarness:
    object_type: ClassVar[str] = "lead"
    skip: ClassVar[Mapping[str, str]] = {
        "test_fault_storm_loses_nothing": NO_HTTP,
        "test_revoked_token_is_reported_clearly": "a directory of files has no token, credential or login to revoke",
        "test_outcomes_pull_incrementally": "the files carry no outcomes (no conversions, deals or statuses)",
    }
    marks: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="leadscore-csv-"))
        self.rng, self.mine = random.Random(11), {}  # the harness's own last save of each file
        self._save("leads.csv", LEAD_COLUMNS, [])
        self._save("activities.csv", ["lead_id", "type", "occurred_at"], [])

    def _load(self, name: str) -> list[dict[str, str]]:
        if not (self.dir / name).is_file():
            return []
        with open(self.dir / name, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def _save(self, name: str, header: list[str], rows: list[dict[str, str]]) -> None:
        with open(self.dir / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, header)
            writer.writeheader()
            writer.writerows(rows)
        self.mine[name] = rows

    def connector(self) -> CsvConnector:
        return CsvConnector({"directory": str(self.dir)})

    def seed(self, count: int) -> list[str]:
        rng, leads, now = self.rng, self._load("leads.csv"), datetime.now(timezone.utc)
        new = [{"id": f"L{len(leads) + n:05d}", "modified_at": (now - timedelta(minutes=count - n)).isoformat(),
                "email": f"lead{len(leads) + n}@{rng.choice(['acme.com', 'gmail.com'])}", "title": rng.choice(TITLES),
                "industry": rng.choice(INDUSTRIES), "country": rng.choice(COUNTRIES)} for n in range(count)]
        activities = self._load("activities.csv") + [
            {"lead_id": lead["id"], "type": rng.choice(KINDS), "occurred_at": (now - timedelta(seconds=rng.randint(3600, 90 * 86400))).isoformat()}
            for lead in new for _ in range(rng.randint(0, 4))]
        self._save("leads.csv", LEAD_COLUMNS, leads + new)
        self._save("activities.csv", ["lead_id", "type", "occurred_at"], activities)
        return [lead["id"] for lead in new]

    def edit(self, record_id: str, field: str, value: str) -> None:
        leads = self._load("leads.csv")
        for lead in leads:
            if lead["id"] == record_id:
                lead.update({field: value, "modified_at": datetime.now(timezone.utc).isoformat()})
        self._save("leads.csv", LEAD_COLUMNS, leads)

    def delete(self, record_id: str) -> None:
        self._save("leads.csv", LEAD_COLUMNS, [lead for lead in self._load("leads.csv") if lead["id"] != record_id])

    def written(self, record_id: str) -> dict[str, str | None]:
        row = next((r for r in self._load("crm.csv") if r["id"] == record_id), {})
        return {name: row.get(column) or None for name, column in CsvWrite().mapping().items()}

    def fields_written(self) -> set[str]:
        """Columns holding a value in crm.csv, and any column of a file the harness owns that
        changed since it last saved it."""
        written = {c for row in self._load("crm.csv") for c, v in row.items() if v and c != "id"}
        for name in ("leads.csv", "activities.csv"):
            now, saved = self._load(name), self.mine[name]
            written |= {c for row, old in zip(now, saved) for c in row if row[c] != old.get(c)}
            written |= {"(rows of " + name + ")"} if len(now) != len(saved) else set()
        return written

    def allowed_fields(self) -> set[str]:
        return set(CsvWrite().mapping().values())

    def faults(self, *, error_rate: float = 0.0, drop_rate: float = 0.0) -> None:
        if error_rate or drop_rate:
            raise NotImplementedError(NO_HTTP)

    def faults_served(self) -> int:
        return 0

    def revoke_token(self) -> None:
        raise NotImplementedError(self.skip["test_revoked_token_is_reported_clearly"])

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
