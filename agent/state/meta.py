"""Facts kept per connector, as JSON: the model version the mirror was last scored with, what
the mirror was pulled with, which CRM the store belongs to, a first sync under way.

The pipeline and the jobs decide what each fact means; the store only keeps them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from leadscore.agent.state.base import StoreBase
from leadscore.agent.state.schema import connector_meta
from leadscore.agent.state.sql import upsert


class Meta(StoreBase):
    """Reading and keeping connector facts."""

    def meta(self, connector: str, key: str) -> Any:
        """A fact kept for ``connector`` (``scored_version``, ``mirror_needs``), or None."""
        t = connector_meta
        with self._transaction("read connector facts", read=True) as conn:
            return conn.execute(
                sa.select(t.c.value).where(t.c.connector == connector, t.c.key == key)
            ).scalar_one_or_none()

    def set_meta(self, connector: str, key: str, value: Any) -> None:
        """Keep a JSON fact for ``connector`` (replacing the previous one)."""
        t = connector_meta
        with self._transaction("record connector facts") as conn:
            stmt = upsert(conn, t)
            stmt = stmt.on_conflict_do_update(
                index_elements=[t.c.connector, t.c.key],
                set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            )
            conn.execute(stmt, {"connector": connector, "key": key, "value": value, "updated_at": self.now()})
