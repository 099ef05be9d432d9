"""The mirror keeps what each record looked like over time: a field version per change (not per
sync), observed at the record's ``updated_at`` (else when it was pulled), written in the mirror
upsert's transaction, gone with the record, read back per lead with its activities, and seeded
from the mirror when a store is upgraded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from leadscore.agent.core.contract import Cursor, PullBatch
from leadscore.agent.core.records import Activity, Lead
from leadscore.agent.state import FieldVersion, MirroredHistory, StateStore, migrate

from tests.test_state import HS, T0, Clock, backend, store, url  # noqa: F401 - the store fixtures, on SQLite and PostgreSQL


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + timedelta(days=30))


def lead(lead_id: str, hours: float | None, object_type: str = "contact", **fields: Any) -> Lead:
    updated = None if hours is None else T0 + timedelta(hours=hours)
    return Lead(lead_id, object_type, fields, created_at=T0, updated_at=updated)


def pull(store: StateStore, *leads: Lead, activities: tuple[Activity, ...] = (), deleted: tuple[str, ...] = ()) -> None:
    object_type = leads[0].object_type if leads else "contact"
    store.record_batch(HS, PullBatch(leads=leads, activities=activities, cursor=Cursor(object_type, "c"), deleted_ids=deleted))


def history(store: StateStore, object_type: str | None = None, **kwargs: Any) -> dict[str, MirroredHistory]:
    return {h.lead.id: h for h in store.lead_history(HS, object_type, **kwargs)}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_versions_are_written_for_changes_only_not_for_every_sync(store: StateStore) -> None:
    pull(store, lead("a", 0, industry="Retail", employees=50))
    pull(store, lead("a", 1, industry="Retail", employees=50))  # a re-sync: nothing changed
    pull(store, lead("a", 1, industry="Retail", employees=50))  # a retried batch
    assert history(store)["a"].versions == (
        FieldVersion("employees", 50, at(0)),
        FieldVersion("industry", "Retail", at(0)),
    )
    pull(store, lead("a", 5, industry="Software", title="CTO"))  # changed, added, cleared
    assert history(store)["a"].versions == (
        FieldVersion("employees", 50, at(0)),
        FieldVersion("industry", "Retail", at(0)),
        FieldVersion("employees", None, at(5)),
        FieldVersion("industry", "Software", at(5)),
        FieldVersion("title", "CTO", at(5)),
    )


def test_a_lead_without_updated_at_is_observed_when_pulled(store: StateStore, clock: Clock) -> None:
    pull(store, lead("a", None, industry="Retail"))
    clock.now += timedelta(days=1)
    pull(store, lead("a", None, industry="Retail"))
    pull(store, lead("a", None, industry="Health"))
    assert history(store)["a"].versions == (
        FieldVersion("industry", "Retail", T0 + timedelta(days=30)),
        FieldVersion("industry", "Health", T0 + timedelta(days=31)),
    )


def test_a_stale_batch_writes_no_version(store: StateStore) -> None:
    pull(store, lead("a", 5, industry="Software"))
    pull(store, lead("a", 1, industry="Retail"))  # a backfill behind the live sync
    assert history(store)["a"].versions == (FieldVersion("industry", "Software", at(5)),)


def test_versions_commit_with_the_mirror_or_not_at_all(store: StateStore) -> None:
    pull(store, lead("a", 0, industry="Retail"))
    with pytest.raises(RuntimeError):
        with store.batch(HS, "contact") as tx:
            tx.mirror([lead("a", 3, industry="Software")])
            raise RuntimeError("the CRM write blew up")
    found = history(store)["a"]
    assert found.lead.fields == {"industry": "Retail"}
    assert found.versions == (FieldVersion("industry", "Retail", at(0)),)


def test_history_reads_each_lead_with_its_versions_and_activities_page_by_page(store: StateStore) -> None:
    for i in range(5):
        pull(
            store,
            lead(f"c{i}", 0, industry="Retail"),
            activities=(Activity(f"c{i}", "page_view", at(2), {"url": "/pricing"}), Activity(f"c{i}", "email_open", at(1))),
        )
    pull(store, lead("l1", 0, object_type="lead", industry="Health"))
    pull(store, lead("c3", 4, industry="Software"))
    everything = history(store, page_size=2)
    assert sorted(everything) == ["c0", "c1", "c2", "c3", "c4", "l1"]
    c3 = everything["c3"]
    assert c3.lead.fields == {"industry": "Software"} and c3.lead.created_at == T0
    assert [v.value for v in c3.versions] == ["Retail", "Software"]
    assert [a.type for a in c3.activities] == []  # the re-pull carried no activities: it has none now
    c1 = everything["c1"]
    assert [(a.type, a.occurred_at) for a in c1.activities] == [("email_open", at(1)), ("page_view", at(2))]
    assert c1.activities[1].properties == {"url": "/pricing"}
    assert sorted(history(store, "lead")) == ["l1"]


def test_deleted_and_forgotten_records_lose_their_history(store: StateStore) -> None:
    pull(store, lead("a", 0, industry="Retail"), lead("b", 0, industry="Health"))
    pull(store, deleted=("a",))
    assert sorted(history(store)) == ["b"]
    assert _count(store, "mirror_field_versions") == 1
    forgotten = store.forget(HS)
    assert forgotten["mirror_field_versions"] == 1 and _count(store, "mirror_field_versions") == 0


def test_an_upgraded_store_starts_its_history_from_the_mirror(url: str, clock: Clock) -> None:
    with StateStore.open(url, clock=clock) as store:
        pull(store, lead("a", 0, industry="Retail", employees=50), lead("b", None, industry="Health"))
        with store.engine.begin() as conn:  # back to the revision before the field history
            config = migrate.alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "0003")  # the revision before the field history
        assert "mirror_field_versions" not in sa.inspect(store.engine).get_table_names()
    with StateStore.open(url, clock=clock) as store:  # opening migrates it again, and seeds it
        found = history(store)
        assert found["a"].versions == (FieldVersion("employees", 50, at(0)), FieldVersion("industry", "Retail", at(0)))
        assert found["b"].versions == (FieldVersion("industry", "Health", clock.now),)  # mirrored at, without updated_at
        pull(store, lead("a", 2, industry="Retail", employees=60))  # later syncs write changes only
        assert [v.field for v in history(store)["a"].versions] == ["employees", "industry", "employees"]


def _count(store: StateStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
