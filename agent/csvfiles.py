"""Reading CRM exports as CSV and writing scored CSV: the offline path an admin tries first.

Cells that leadscore writes are escaped against spreadsheet formulas (:func:`safe_cell`), and
read back unescaped (:func:`unescape_cell`), so its own files round-trip.

A bad row never stops a run. Rows that cannot be used at all (no id, no usable timestamp) are
skipped; rows with some bad values are kept with what is usable; every case is counted in an
:class:`Issues` summary the CLI prints at the end.
"""

from __future__ import annotations

import csv
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence, TextIO, TypeVar

from leadscore.agent.core.errors import ConfigError
from leadscore.agent.core.records import CANONICAL_FIELDS, CUSTOM_PREFIX, Activity, Lead, ScoreResult, is_known_activity_type

# CSV exports carry long free-text fields (notes, descriptions); the csv module's default cap
# of 128 KiB per field would raise mid-file.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

T = TypeVar("T")

SCORED_COLUMNS = ("id", "score", "fit_score", "engagement_score", "stage", "grade", "reason", "model_version")

#: What makes a spreadsheet read a cell as a formula (OWASP "CSV Injection"): a cell leadscore
#: writes that starts with one of these gets a leading ``'``, so Excel, LibreOffice and Google
#: Sheets show it as text. A reason (``+20 Visited pricing page``) starts with one nearly always.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A cell that is only a plain decimal number (``-5``, ``-0.25``, ``1e3``) stays as it is: a
#: spreadsheet reads it as that number, and no formula fits in it.
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", re.ASCII)


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell no spreadsheet runs as a formula: text starting with
    :data:`FORMULA_START` gets a leading ``'`` unless it is a plain decimal number; numbers
    (``int``, finite ``float``) and empty cells are written as they are."""
    if value is None or isinstance(value, bool) or isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    text = str(value)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """A cell as it was before :func:`safe_cell` (or another tool) quoted it: ``'=x`` reads as
    ``=x``. Only a ``'`` before a formula character is taken off; any other ``'`` is data."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def _unescaped(row: dict[str, object]) -> dict[str, object]:
    return {k: unescape_cell(v) if isinstance(v, str) else v for k, v in row.items()}
_LEAD_META = {"id", "object_type", "created_at", "updated_at"}
_ACTIVITY_META = {"lead_id", "type", "occurred_at"}


@dataclass
class Issues:
    """Counts of problems by kind, plus a few examples of each for the log."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        self.counts[kind] += 1
        bucket = self.examples.setdefault(kind, [])
        if len(bucket) < 3:
            bucket.append(example)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def lines(self) -> list[str]:
        return [
            f"{count} x {kind} (e.g. {'; '.join(self.examples[kind])})" for kind, count in self.counts.most_common()
        ]


def parse_timestamp(value: str | None) -> datetime | None:
    """ISO 8601 (``Z`` allowed), a bare date (midnight UTC), or epoch seconds/milliseconds."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        number = int(text)
        if abs(number) > 10**11:  # milliseconds, as HubSpot exports them
            number //= 1000
        try:
            return datetime.fromtimestamp(number, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _field_name(column: str) -> str:
    name = column.strip()
    if name in CANONICAL_FIELDS or name.startswith(CUSTOM_PREFIX):
        return name
    return CUSTOM_PREFIX + name


def _reader(handle: TextIO, path: Path, required: Iterable[str]) -> csv.DictReader[str]:
    reader = csv.DictReader(handle)
    columns = [c.strip() for c in (reader.fieldnames or [])]
    missing = [c for c in required if c not in columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(columns) or 'none'})")
    reader.fieldnames = columns
    return reader


def read_leads(path: str | Path, issues: Issues) -> list[Lead]:
    """Leads from a CSV with an ``id`` column plus canonical field columns. Other columns are
    kept as ``custom.<column>``, so rules can still use them."""
    path = Path(path)
    leads: dict[str, Lead] = {}
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = _reader(handle, path, ["id"])
        names = {c: _field_name(c) for c in reader.fieldnames or [] if c not in _LEAD_META}
        for line, row in enumerate(reader, start=2):
            row = _unescaped(row)  # type: ignore[arg-type]
            if None in row:
                issues.add("rows with extra cells (ignored)", f"line {line}")
            lead_id = (row.get("id") or "").strip()
            if not lead_id:
                issues.add("lead rows without id (skipped)", f"line {line}")
                continue
            if lead_id in leads:
                issues.add("duplicate lead ids (last row kept)", lead_id)
            object_type = (row.get("object_type") or "lead").strip().lower()
            if object_type not in ("lead", "contact"):
                issues.add("unknown object_type (read as lead)", f"line {line}")
                object_type = "lead"
            leads[lead_id] = Lead(
                id=lead_id,
                object_type=object_type,  # type: ignore[arg-type]
                fields={names[c]: v for c, v in row.items() if c in names and v not in (None, "")},
                created_at=parse_timestamp(row.get("created_at")),
                updated_at=parse_timestamp(row.get("updated_at")),
            )
    return list(leads.values())


def read_activities(path: str | Path, issues: Issues, lead_ids: set[str] | None = None) -> dict[str, list[Activity]]:
    """Activities from a CSV with ``lead_id,type,occurred_at`` plus property columns, by lead."""
    path = Path(path)
    by_lead: dict[str, list[Activity]] = {}
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = _reader(handle, path, ["lead_id", "type", "occurred_at"])
        props = [c for c in reader.fieldnames or [] if c not in _ACTIVITY_META]
        for line, row in enumerate(reader, start=2):
            row = _unescaped(row)  # type: ignore[arg-type]
            lead_id = (row.get("lead_id") or "").strip()
            kind = (row.get("type") or "").strip().lower()
            occurred = parse_timestamp(row.get("occurred_at"))
            if not lead_id:
                issues.add("activities without lead_id (skipped)", f"line {line}")
                continue
            if not is_known_activity_type(kind):
                issues.add("activities of unknown type (skipped)", f"line {line}: {kind[:30]!r}")
                continue
            if occurred is None:
                issues.add("activities with bad occurred_at (skipped)", f"line {line}: {(row.get('occurred_at') or '')[:30]!r}")
                continue
            if lead_ids is not None and lead_id not in lead_ids:
                issues.add("activities of unknown leads (ignored)", f"line {line}: {lead_id[:30]}")
                continue
            properties = {c: row[c] for c in props if row.get(c) not in (None, "")}
            by_lead.setdefault(lead_id, []).append(Activity(lead_id, kind, occurred, properties))
    return by_lead


def _write_rows(path: str | Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([safe_cell(cell) for cell in header])
        for row in rows:
            writer.writerow([safe_cell(cell) for cell in row])
            count += 1
    return count


def write_scores(path: str | Path, results: Iterable[ScoreResult], reason_budget: int) -> int:
    """Write ``id,score,fit_score,engagement_score,stage,grade,reason,model_version``; return rows."""
    return _write_rows(
        path,
        SCORED_COLUMNS,
        (
            (r.lead_id, r.score, r.fit_score, r.engagement_score, r.stage, r.grade or "", r.reason(reason_budget), r.model_version)
            for r in results
        ),
    )


def write_leads(path: str | Path, leads: Iterable[Lead]) -> int:
    """Write leads in the format :func:`read_leads` reads (used by the demo's sample export)."""
    return _write_with_fields(
        path,
        ("id", "object_type", "created_at"),
        list(leads),
        lambda lead: (lead.id, lead.object_type, lead.created_at.isoformat() if lead.created_at else ""),
        lambda lead: lead.fields,
    )


def write_activities(path: str | Path, activities: Iterable[Activity]) -> int:
    """Write activities in the format :func:`read_activities` reads."""
    return _write_with_fields(
        path,
        ("lead_id", "type", "occurred_at"),
        list(activities),
        lambda a: (a.lead_id, a.type, a.occurred_at.isoformat()),
        lambda a: a.properties,
    )


def _write_with_fields(
    path: str | Path,
    header: Sequence[str],
    records: Sequence[T],
    cells: Callable[[T], Sequence[object]],
    named: Callable[[T], Mapping[str, object]],
) -> int:
    """``records`` as their ``cells`` under ``header``, then a column for every name a record's
    ``named`` values use (sorted; a record without that value gets an empty cell)."""
    columns = sorted({name for record in records for name in named(record)})
    return _write_rows(
        path,
        [*header, *columns],
        ([*cells(r), *("" if named(r).get(c) is None else named(r)[c] for c in columns)] for r in records),
    )
