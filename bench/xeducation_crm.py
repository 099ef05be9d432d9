"""X Education's 9,237 real leads trained through the agent's own CRM pipeline (issue 14).

``bench/predictive.py`` trains on the CSV export directly. This script takes the path a customer
takes instead: the leads live in a CRM (the local HubSpot emulator), the agent syncs them and
their outcomes into its state store, and ``leadscore train`` / ``leadscore learn-points`` read
that store, with no CSV::

    python bench/xeducation_crm.py                 # load, setup, sync, train both kinds, learn points
    python bench/xeducation_crm.py --seed 3 --keep out/xe   # other dates; keep the config and state

**What is loaded, as an admin importing the export would.** A property group ``x_education`` and
one custom contact property per column, created through HubSpot's properties API (the real SDK
over HTTP): numbers as ``number`` properties, Yes/No columns as single checkboxes (``bool`` /
``booleancheckbox``; HubSpot's import reads ``Yes``/``No`` into them as ``true``/``false``, KB
"Import data to checkbox properties"), the other answers as dropdown selects whose options are the
answers found in the file. ``Country`` and ``City`` go into HubSpot's own ``country`` and ``city``.
Blank cells and the form placeholder ``Select`` stay empty. Then one contact per row. Never
loaded: ``Converted`` (the outcome is the lifecycle stage, below) and the columns the sales team
fills in during or after contact, which leak the outcome (``Tags``, ``Lead Quality``, ``Lead
Profile``, ``Last Notable Activity``, the four ``Asymmetrique`` columns: the dataset's README).

**Dates (chosen here: the export has none).** Each contact is created at a seeded-random instant
120 to 400 days before the load; a converted lead (``Converted = 1``) reaches lifecycle stage
``customer`` at its creation + uniform(8, 90) days, after the agent's 7-day snapshot and inside
its 90-day horizon (``[predictive.point_in_time]`` defaults), so no row is censored and none
converted before its snapshot; the others stay ``lead``. The emulator's clock is driven through
that past: each contact is created at its creation instant and moved to ``customer`` at its
conversion instant, in time order, as a user would have done then, so ``createdate``,
``lastmodifieddate`` and ``hs_lifecyclestage_customer_date`` are stamped by the emulator's own
rules (HubSpot sets the "Became a Customer Date" when the stage is entered). The clock then returns
to real time before the agent runs; :func:`check_past` asserts that no stamp lies in the future.

**The agent, as a new user runs it** (subprocesses of the installed ``leadscore``): ``setup``
(the score fields the sync writes), ``sync`` (pulls every contact and the outcomes), ``status``,
``train`` (logistic, comparing gradient boosting), ``train --model gradient_boosting``,
``learn-points``. Targets (issue 14): best model held-out AUC >= 0.90, ECE <= 0.03, learned points
within 0.01 AUC. The models' figures are ``train``'s, on the latest 20% of rows held out; the
points' AUC is the out-of-fold one ``learn-points`` prints (its inner cross-validation over every
row): not the same rows, so the gap is indicative. Exit status 1 when a command fails or a target
is missed; 0 with a message when the dataset is absent.

The emulator answers with limits no run reaches (as the tests' emulators do) unless
``--tier-limits``, which keeps HubSpot's professional-tier limits on both sides (the sync then
waits for HubSpot's 190 requests per 10 seconds, as it would on a real portal).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == ROOT / "bench":
    # Run as a script: bench/ heads sys.path, and bench/hubspot.py would shadow the HubSpot SDK.
    sys.path.pop(0)
DEFAULT_CSV = ROOT.parent / "shared" / "datasets" / "x-education" / "Leads.csv"
LEADSCORE = Path(sys.executable).with_name("leadscore")

GROUP = "x_education"
GROUP_LABEL = "X Education"
LABEL_COLUMN = "Converted"
ID_COLUMN = "Prospect ID"
#: Filled in by the sales team during or after contact (the dataset's README): never loaded.
LEAKY_COLUMNS = (
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Last Notable Activity",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
)
#: Read as "no answer" (``Select`` is the form's placeholder), compared ignoring case.
MISSING = frozenset({"", "select"})
DAY_MS = 86_400_000
#: The chosen dates (see the module docstring), in days.
CREATED_DAYS_AGO = (120.0, 400.0)
CONVERTED_AFTER_DAYS = (8.0, 90.0)
DEFAULT_SEED = 14  # issue 14

TARGET_AUC = 0.90
TARGET_ECE = 0.03
TARGET_GAP = 0.01


@dataclass(frozen=True)
class Column:
    """One column of the export: the contact property it is loaded into and the lead field the
    agent's config maps that property to (``None``: loaded, not read by the agent)."""

    column: str
    property: str
    #: ``number``, ``checkbox`` (Yes/No), ``select`` (dropdown of the answers found), ``text``,
    #: or ``builtin`` (one of HubSpot's own properties: nothing to create).
    kind: str
    field: str | None


def snake_case(text: str) -> str:
    """The internal name HubSpot's import gives a property it creates from a column header."""
    return re.sub(r"[^0-9a-z]+", "_", text.strip().casefold()).strip("_")


def _custom(column: str, kind: str, name: str | None = None) -> Column:
    prop = snake_case(column)
    return Column(column, prop, kind, f"custom.{name or prop}")


#: Every column but the outcome and the leakage columns. The lead fields follow the CSV loader's
#: ``X_EDUCATION_MAPPING`` (agent/predictive/dataset.py): canonical fields where a natural one
#: exists, ``custom.<name>`` for the rest, so both paths learn from the same fields.
COLUMNS: tuple[Column, ...] = (
    Column("Prospect ID", "prospect_id", "text", None),  # X Education's id: kept in the CRM, not a feature
    Column("Lead Number", "lead_number", "text", None),
    _custom("Lead Origin", "select"),
    Column("Lead Source", "lead_source", "select", "lead_source"),
    _custom("Do Not Email", "checkbox"),
    _custom("Do Not Call", "checkbox"),
    Column("TotalVisits", "totalvisits", "number", "visits"),
    _custom("Total Time Spent on Website", "number", "time_on_site"),
    _custom("Page Views Per Visit", "number"),
    _custom("Last Activity", "select"),
    Column("Country", "country", "builtin", "country"),
    _custom("Specialization", "select"),
    _custom("How did you hear about X Education", "select"),
    _custom("What is your current occupation", "select", "occupation"),
    _custom("What matters most to you in choosing a course", "select"),
    _custom("Search", "checkbox"),
    _custom("Magazine", "checkbox"),
    _custom("Newspaper Article", "checkbox"),
    _custom("X Education Forums", "checkbox"),
    _custom("Newspaper", "checkbox"),
    _custom("Digital Advertisement", "checkbox"),
    _custom("Through Recommendations", "checkbox"),
    _custom("Receive More Updates About Our Courses", "checkbox"),
    _custom("Update me on Supply Chain Content", "checkbox"),
    _custom("Get updates on DM Content", "checkbox"),
    Column("City", "city", "builtin", "city"),
    _custom("I agree to pay the amount through cheque", "checkbox"),
    _custom("A free copy of Mastering The Interview", "checkbox"),
)
#: Lead fields with one value in every row of the export: models drop them, whatever path.
CONSTANT_FIELDS = frozenset({
    "custom.magazine", "custom.receive_more_updates_about_our_courses", "custom.update_me_on_supply_chain_content",
    "custom.get_updates_on_dm_content", "custom.i_agree_to_pay_the_amount_through_cheque",
})
#: HubSpot's import into a single checkbox: "True or Yes" checks it, "False or No" unchecks it.
CHECKBOX = {"yes": "true", "true": "true", "no": "false", "false": "false"}


# --- the export -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    prospect_id: str
    converted: bool
    values: dict[str, str]  # column -> raw cell, as read


def read_rows(path: Path) -> list[Row]:
    """The export's rows (every column, as text); rows without a 0/1 outcome are skipped."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        known = {c.column for c in COLUMNS} | set(LEAKY_COLUMNS) | {LABEL_COLUMN}
        unexpected = sorted(set(reader.fieldnames or ()) - known)
        if unexpected:
            raise ValueError(f"{path}: columns this loader does not know: {', '.join(unexpected)}")
        rows = []
        for record in reader:
            label = (record.get(LABEL_COLUMN) or "").strip()
            if label not in ("0", "1"):
                continue
            rows.append(Row(record[ID_COLUMN].strip(), label == "1", {k: (v or "").strip() for k, v in record.items()}))
    return rows


def contact_properties(row: Row) -> dict[str, str]:
    """The row as contact property values: empty and ``Select`` cells left out, Yes/No as a
    checkbox's ``true``/``false``; never the outcome or a leakage column."""
    out: dict[str, str] = {"lifecyclestage": "lead"}
    for col in COLUMNS:
        raw = row.values.get(col.column, "")
        if raw.casefold() in MISSING:
            continue
        out[col.property] = CHECKBOX[raw.casefold()] if col.kind == "checkbox" else raw
    return out


# --- dates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dates:
    created_ms: int
    converted_ms: int | None


def plan_dates(rows: Sequence[Row], now_ms: int, seed: int = DEFAULT_SEED) -> list[Dates]:
    """Each row's creation instant (120-400 days before ``now_ms``) and, when it converted, its
    conversion instant (8-90 days after creation); one seeded stream, in row order."""
    rng = random.Random(f"x-education-crm:{seed}")
    out = []
    for row in rows:
        created = now_ms - int(rng.uniform(*CREATED_DAYS_AGO) * DAY_MS)
        after = rng.uniform(*CONVERTED_AFTER_DAYS)  # drawn for every row: one row's label moves no other's date
        out.append(Dates(created, created + int(after * DAY_MS) if row.converted else None))
    return out


class DrivenClock:
    """The emulator's clock: real time, or an instant in the past while history is replayed."""

    def __init__(self) -> None:
        self.at: float | None = None

    def __call__(self) -> float:
        return time.time() if self.at is None else self.at

    def set_ms(self, epoch_ms: int) -> None:
        self.at = epoch_ms / 1000

    def release(self) -> None:
        self.at = None


# --- loading ----------------------------------------------------------------------------------


@dataclass
class Loaded:
    """What :func:`load_x_education` put into the emulator."""

    rows: int
    converted: int
    contact_of: dict[str, str]  # prospect id -> contact id
    converted_contacts: set[str]
    properties_created: list[str]
    seconds: float
    first_ms: int
    last_ms: int
    dates: dict[str, Dates] = field(repr=False, default_factory=dict)  # contact id -> dates
    #: The latest ``createdate``, ``lastmodifieddate`` and customer date stamped (epoch ms), set
    #: by :func:`start_loaded_emulator` once :func:`check_past` found every stamp in the past.
    latest: dict[str, int] = field(default_factory=dict)


def define_properties(host: str, token: str, rows: Sequence[Row]) -> list[str]:
    """The ``x_education`` group and one custom contact property per column, as an admin creates
    them, through the properties API (the real SDK over HTTP); their names."""
    from hubspot import HubSpot
    from hubspot.crm.properties import OptionInput, PropertyCreate, PropertyGroupCreate

    client = HubSpot(access_token=token, host=host)
    client.crm.properties.groups_api.create("contacts", PropertyGroupCreate(name=GROUP, label=GROUP_LABEL))
    created = []
    for order, col in enumerate(COLUMNS):
        if col.kind == "builtin":
            continue
        options = None
        if col.kind == "checkbox":
            type_, field_type = "bool", "booleancheckbox"
            options = [OptionInput(label="Yes", value="true", display_order=0, hidden=False),
                       OptionInput(label="No", value="false", display_order=1, hidden=False)]
        elif col.kind == "number":
            type_, field_type = "number", "number"
        elif col.kind == "select":
            type_, field_type = "enumeration", "select"
            answers = sorted({r.values[col.column] for r in rows if r.values.get(col.column, "").casefold() not in MISSING})
            options = [OptionInput(label=a, value=a, display_order=i, hidden=False) for i, a in enumerate(answers)]
        else:
            type_, field_type = "string", "text"
        client.crm.properties.core_api.create("contacts", PropertyCreate(
            name=col.property, label=col.column, type=type_, field_type=field_type, group_name=GROUP, options=options,
            display_order=order, has_unique_value=col.property == "prospect_id", form_field=False,
            description=f"X Education export column {col.column!r}",
        ))
        created.append(col.property)
    return created


def load_x_education(emulator: Any, clock: DrivenClock, rows: Sequence[Row], *, seed: int = DEFAULT_SEED,
                     now_ms: int | None = None) -> Loaded:
    """Replay the export's (chosen) history into ``emulator``, whose clock is ``clock``: define
    the properties just before the first lead, create each contact at its creation instant and
    move each converted one to ``customer`` at its conversion instant, in time order; then hand
    the clock back to real time. See the module docstring for the dates."""
    started = time.perf_counter()
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    dates = plan_dates(rows, now_ms, seed)
    events: list[tuple[int, int, int]] = []  # (instant, 0 create | 1 convert, row index)
    for index, d in enumerate(dates):
        events.append((d.created_ms, 0, index))
        if d.converted_ms is not None:
            events.append((d.converted_ms, 1, index))
    events.sort()
    first_ms = events[0][0]
    contact_ids: dict[int, str] = {}
    try:
        clock.set_ms(first_ms - DAY_MS)  # the admin set the properties up the day before
        created = define_properties(emulator.base_url, emulator.token, rows)
        for at_ms, kind, index in events:
            clock.set_ms(at_ms)
            if kind == 0:
                contact_ids[index] = emulator.create_contact(contact_properties(rows[index]))
            else:  # a user moves the contact on; HubSpot stamps hs_lifecyclestage_customer_date
                emulator.update_contact(contact_ids[index], {"lifecyclestage": "customer"})
    finally:
        clock.release()
    return Loaded(
        rows=len(rows),
        converted=sum(1 for r in rows if r.converted),
        contact_of={rows[i].prospect_id: cid for i, cid in contact_ids.items()},
        converted_contacts={cid for i, cid in contact_ids.items() if rows[i].converted},
        properties_created=created,
        seconds=time.perf_counter() - started,
        first_ms=first_ms,
        last_ms=events[-1][0],
        dates={cid: dates[i] for i, cid in contact_ids.items()},
    )


def check_past(emulator: Any, loaded: Loaded) -> dict[str, int]:
    """Every contact's stamps lie in the past and are the planned ones: ``createdate`` at its
    creation, ``hs_lifecyclestage_customer_date`` (the emulator's own stamp) at its conversion,
    ``lastmodifieddate`` at the later of the two; raises AssertionError otherwise. Returns the
    latest of each stamp (epoch ms)."""
    from leadscore.connectors.hubspot.emulator.values import parse_instant

    now_ms = int(time.time() * 1000)
    latest = {"createdate": 0, "lastmodifieddate": 0, "hs_lifecyclestage_customer_date": 0}
    for contact_id, props in emulator.contacts().items():
        planned = loaded.dates[contact_id]
        stamps = {name: parse_instant(props[name]) for name in latest if props.get(name)}
        for name, ms in stamps.items():
            if ms > now_ms:
                raise AssertionError(f"contact {contact_id}: {name} {props[name]} lies in the future")
            latest[name] = max(latest[name], ms)
        if abs(stamps["createdate"] - planned.created_ms) > 5:
            raise AssertionError(f"contact {contact_id}: createdate {props['createdate']} is not its planned creation")
        converted = stamps.get("hs_lifecyclestage_customer_date")
        if (converted is None) != (planned.converted_ms is None):
            raise AssertionError(f"contact {contact_id}: customer date {converted} against planned {planned.converted_ms}")
        if converted is not None and abs(converted - planned.converted_ms) > 5:
            raise AssertionError(f"contact {contact_id}: customer date {props['hs_lifecyclestage_customer_date']} is not its conversion")
        if props.get("lifecyclestage") != ("customer" if converted else "lead"):
            raise AssertionError(f"contact {contact_id}: lifecycle stage {props.get('lifecyclestage')}")
        if stamps["lastmodifieddate"] < (converted or stamps["createdate"]):
            raise AssertionError(f"contact {contact_id}: lastmodifieddate before its last change")
    return latest


def start_loaded_emulator(csv_path: Path, *, seed: int = DEFAULT_SEED, tier_limits: bool = False) -> tuple[Any, Loaded]:
    """A started HubSpot emulator holding the export (see :func:`load_x_education`); stop it
    when done."""
    from leadscore.connectors.hubspot.emulator import HubSpotEmulator, RateLimits

    clock = DrivenClock()
    limits = None if tier_limits else RateLimits(per_ten_seconds=100_000, daily=10_000_000, search_per_second=10_000)
    emulator = HubSpotEmulator(limits=limits, clock=clock).start()
    try:
        rows = read_rows(csv_path)
        loaded = load_x_education(emulator, clock, rows, seed=seed)
        loaded.latest = check_past(emulator, loaded)
    except BaseException:
        emulator.stop()
        raise
    return emulator, loaded


# --- the agent's config -----------------------------------------------------------------------

#: A small hand-written rules model: the sync scores with it (the predictive model is trained
#: from what the sync stores). The CSV report test (tests/test_predictive_report.py) uses them too.
RULES = Path(__file__).resolve().with_name("x_education_model.toml").read_text(encoding="utf-8")


def _toml(value: Any) -> str:
    """A TOML value: JSON's scalars and arrays are TOML's; a mapping is an inline table."""
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def field_map() -> dict[str, str]:
    """``[connectors.hubspot] fields``: lead field -> the property it is read from."""
    return {col.field: col.property for col in COLUMNS if col.field is not None}


def config_text(host: str, token: str, state_db: Path, *, tier_limits: bool = False) -> str:
    """The admin's ``leadscore.toml``: the rules, SQLite state beside it, the emulated portal with
    the X Education properties mapped to lead fields, outcomes and training defaults."""
    hubspot: dict[str, Any] = {"host": host, "access_token": token}
    if not tier_limits:
        hubspot.update(per_ten_seconds=100_000, search_per_second=10_000)
    lines = [
        RULES,
        "[agent]",
        f"state_url = {_toml('sqlite:///' + state_db.as_posix())}",
        "metrics_port = 0",
        'log_level = "warning"',
        "",
        "[connectors.hubspot]",
        *(f"{k} = {_toml(v)}" for k, v in hubspot.items()),
        f"fields = {_toml(field_map())}",
        "",
        "[connectors.hubspot.outcomes]",
        'converted_stages = ["customer"]',
        "",
        "# Training reads the state store. The leakage columns were never loaded, so nothing is excluded.",
        "[predictive]",
        "min_positives = 100",
        "min_negatives = 100",
        "exclude = []",
        "",
    ]
    return "\n".join(lines)


def write_config(directory: Path, emulator: Any, *, tier_limits: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "leadscore.toml"
    path.write_text(config_text(emulator.base_url, emulator.token, directory / "state.db", tier_limits=tier_limits),
                    encoding="utf-8")
    return path


# --- running the agent ------------------------------------------------------------------------


@dataclass
class Ran:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def command(self) -> str:
        return "leadscore " + " ".join(self.argv)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 900) -> Ran:
    """``leadscore ARGS`` in a subprocess, as a user runs it (wide, uncoloured output)."""
    env = {k: v for k, v in os.environ.items() if k != "LEADSCORE_DEBUG"}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    command = [str(LEADSCORE)] if LEADSCORE.exists() else [sys.executable, "-m", "leadscore.agent.cli"]
    started = time.perf_counter()
    done = subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)
    return Ran(list(args), done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def stored_outcomes(config: Path, connector: str = "hubspot") -> dict[str, Any]:
    """What the state store named by ``config`` holds for ``connector``: mirrored records by type,
    outcomes by kind, and each converted outcome's record id with its date."""
    from leadscore.agent.config import load_config
    from leadscore.agent.state import StateStore

    loaded = load_config(config)
    with StateStore.open(loaded.agent.state_url) as store:
        return {
            "mirrored": dict(store.status(connector).mirrored_leads),
            "outcomes": dict(store.outcome_counts(connector)),
            "converted": {row.record_id: row.occurred_at for row in store.outcomes(connector, kinds=["converted"])},
        }


def check_outcomes(stored: Mapping[str, Any], loaded: Loaded) -> list[str]:
    """Problems with the synced outcomes: one ``converted`` outcome per converted row, for its
    contact, dated by the conversion HubSpot stamped (empty when all is well)."""
    problems = []
    converted = stored["converted"]
    if set(converted) != loaded.converted_contacts:
        problems.append(f"{len(converted):,} converted outcomes for {len(loaded.converted_contacts):,} converted rows "
                        f"({len(set(converted) - loaded.converted_contacts)} unexpected, "
                        f"{len(loaded.converted_contacts - set(converted))} missing)")
    wrong = [cid for cid, when in converted.items() if cid in loaded.dates and (
        when is None or abs(int(when.timestamp() * 1000) - (loaded.dates[cid].converted_ms or 0)) > 5)]
    if wrong:
        problems.append(f"{len(wrong)} converted outcomes not dated at the conversion (e.g. contact {wrong[0]})")
    return problems


def model_info(model_json: Path) -> dict[str, Any]:
    """The training info ``leadscore train`` saved with the model (``held_out``: its held-out
    figures; ``inputs``: the lead fields it learned from)."""
    return dict(json.loads(model_json.read_text(encoding="utf-8")).get("info") or {})


_QUALITY_ROW = re.compile(
    r"^\s*(?P<kind>logistic|gradient_boosting)(?P<star> \*)?[\s│|]+[^│|]*[│|]\s*(?P<auc>\d\.\d{3})"
    r"(?: \((?P<low>\d\.\d{3})-(?P<high>\d\.\d{3})\))?[\s│|]+(?P<ece>\d\.\d{3})[\s│|]+(?P<lift>\d+\.\d{2})x",
    re.MULTILINE)


def quality_rows(stdout: str) -> dict[str, dict[str, Any]]:
    """The rows of ``leadscore train``'s held-out quality table, by model kind."""
    return {m["kind"]: {"auc": float(m["auc"]), "auc_low": float(m["low"] or "nan"), "auc_high": float(m["high"] or "nan"),
                        "ece": float(m["ece"]), "lift_at_10": float(m["lift"]), "chosen": bool(m["star"])}
            for m in _QUALITY_ROW.finditer(stdout)}


_POINTS_AUC = re.compile(r"Out-of-fold ROC AUC of these points[^:]*:\s*(\d\.\d+)")


def points_auc(text: str) -> float | None:
    """The learned points' out-of-fold AUC that ``learn-points`` prints in its snippet's header."""
    found = _POINTS_AUC.search(text)
    return float(found.group(1)) if found else None


# --- the script -------------------------------------------------------------------------------


def _show(ran: Ran) -> None:
    print(f"\n$ {ran.command}    ({ran.seconds:.1f}s, exit {ran.returncode})")
    if ran.stdout.strip():
        print(ran.stdout.rstrip())
    if ran.stderr.strip():
        print(ran.stderr.rstrip())


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Seed of the chosen creation and conversion dates.")
    parser.add_argument("--keep", type=Path, default=None, help="Write the config and state here and keep them.")
    parser.add_argument("--tier-limits", action="store_true", help="HubSpot's professional-tier API limits, not unlimited.")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not args.csv.is_file():
        print(f"X Education data not found at {args.csv}: nothing to run (see shared/datasets/x-education/README.md).")
        return 0
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        for leftover in ("state.db", "state.db-wal", "state.db-shm", "logistic.json", "gradient_boosting.json"):
            (args.keep / leftover).unlink(missing_ok=True)
        return _run(args, args.keep)
    with tempfile.TemporaryDirectory(prefix="xeducation-crm-") as tmp:
        return _run(args, Path(tmp))


def _run(args: argparse.Namespace, work: Path) -> int:
    times: dict[str, float] = {}
    started = time.perf_counter()
    emulator, loaded = start_loaded_emulator(args.csv, seed=args.seed, tier_limits=args.tier_limits)
    times["load"] = time.perf_counter() - started
    failed: list[str] = []

    def step(name: str, *argv: str) -> Ran:
        ran = run_cli(*argv, cwd=work)
        times[name] = ran.seconds
        _show(ran)
        if ran.returncode != 0:
            failed.append(ran.command)
        return ran

    try:
        first = datetime.fromtimestamp(loaded.first_ms / 1000, timezone.utc)
        last = datetime.fromtimestamp(loaded.last_ms / 1000, timezone.utc)
        print(f"loaded {loaded.rows:,} X Education leads ({loaded.converted:,} converted) into the HubSpot emulator at "
              f"{emulator.base_url} in {times['load']:.1f}s: {len(loaded.properties_created)} custom properties in group "
              f"{GROUP!r}; history from {first:%Y-%m-%d} to {last:%Y-%m-%d} (seed {args.seed}); every stamp in the past")
        config = write_config(work, emulator, tier_limits=args.tier_limits)
        print(f"config: {config}")
        step("setup", "setup", "--config", str(config))
        step("sync", "sync", "--config", str(config))
    finally:
        emulator.stop()  # training reads the state store only: the CRM is not needed any more
    step("status", "status", "--config", str(config))
    stored = stored_outcomes(config)
    problems = check_outcomes(stored, loaded)
    print(f"\nstate store: mirrored {stored['mirrored']}, outcomes {stored['outcomes']}; "
          + ("one converted outcome per converted row, dated at its conversion" if not problems else "; ".join(problems)))

    figures: dict[str, dict[str, Any]] = {}
    inputs: dict[str, list[str]] = {}
    for kind in ("logistic", "gradient_boosting"):
        out = work / f"{kind}.json"
        extra = ["--model", kind] if kind != "logistic" else []
        ran = step(f"train {kind}", "train", "--config", str(config), "--out", str(out), *extra)
        for name, row in quality_rows(ran.stdout).items():
            figures.setdefault(name, row)
        if out.is_file():
            inputs[kind] = model_info(out).get("inputs", [])
    points = step("learn-points", "learn-points", "--config", str(config))
    learned = points_auc(points.stdout + points.stderr)

    print("\n== summary ==")
    for kind, q in figures.items():
        print(f"  {kind:<18} held-out AUC {q['auc']:.3f} ({q['auc_low']:.3f}-{q['auc_high']:.3f})  ECE {q['ece']:.3f}  "
              f"lift@10% {q['lift_at_10']:.2f}x")
    print(f"  learned points     out-of-fold AUC {learned:.3f}" if learned is not None else "  learned points     AUC: not printed")
    for kind, names in inputs.items():
        print(f"  {kind} learned from {len(names)} lead fields: {', '.join(names)}")
    mapped = set(field_map())
    unread = sorted(mapped - {n for names in inputs.values() for n in names} - CONSTANT_FIELDS)
    if inputs and len(unread) > len(mapped) / 2:
        print(f"  note: {len(unread)} of the {len(mapped)} mapped fields never reached the models ({', '.join(unread[:6])}, ...): "
              "the sync mirrors only the fields its scorer reads (agent/sync/pipeline.py, scorer_needs), here the "
              "[scoring] rules', so training from the store sees only those")
    print("  wall times: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items()))
    checks = [("every command succeeded", not failed),
              ("sync recorded one converted outcome per converted row, dated at its conversion", not problems)]
    if figures:
        best = max(figures.values(), key=lambda q: q["auc"])
        checks.append((f"best held-out AUC {best['auc']:.3f} >= {TARGET_AUC}", best["auc"] >= TARGET_AUC))
        checks.append((f"its ECE {best['ece']:.3f} <= {TARGET_ECE}", best["ece"] <= TARGET_ECE))
        if learned is not None:
            checks.append((f"learned points within {TARGET_GAP} of it ({learned - best['auc']:+.3f})",
                           best["auc"] - learned <= TARGET_GAP))
    else:
        checks.append(("held-out figures printed by leadscore train", False))
    for what, ok in checks:
        print(f"  [{'ok' if ok else 'MISSED'}] {what}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
