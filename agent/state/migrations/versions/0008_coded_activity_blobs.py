"""Activity blobs coded the way the engine reads them, and compressed by LZ4 instead of zlib.

A nightly rescore reads every mirrored lead's blob. Revision 0007's blob was a zlib-compressed
JSON object of lists (``type``, ``at``, one list per property), so each read inflated it (5 us),
parsed twenty values per list, and coded them again for the engine. Here each blob becomes:

- a JSON header, keys sorted: ``n`` activities, the distinct ``types`` and, under
  ``properties``, each property's distinct values, each list in order of first appearance;
- ``at``: ``n`` little-endian int64 (microseconds since the epoch);
- ``type``: ``n`` little-endian uint32 indexes into ``types``;
- per property, in the header's order: ``n`` uint32, 0 for no value, else 1 + an index into its
  values (two values are one when their JSON texts are: ``1`` and ``true`` stay apart);

behind the header's length (uint32), compressed as one LZ4 block (the ``lz4`` package's
``lz4.block``, size stored in front), which inflates in 0.6 us. The activities and their order
(oldest first, ties by their canonical text) are unchanged. Both formats are spelled out here
rather than imported, so this revision does the same forever; downgrading brings 0007's back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any, Callable, Sequence, Union

import lz4.block
import numpy as np
import orjson
import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: Rows converted per round trip: memory stays flat however large the mirror.
PAGE = 2000
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_LENGTH = struct.Struct("<I")


def _coded(blob: bytes) -> bytes:
    """0007's blob (zlib JSON lists, ``null`` for no value) as 0008's."""
    body = json.loads(zlib.decompress(blob))
    n = len(body["type"])
    types: dict[str, int] = {}
    type_codes = [types.setdefault(kind, len(types)) for kind in body["type"]]
    values: dict[str, list[Any]] = {}
    codes: list[list[int]] = []
    for name in sorted(body["properties"]):
        seen: dict[bytes, int] = {}
        distinct: list[Any] = []
        column = []
        for value in body["properties"][name]:
            if value is None:
                column.append(0)
                continue
            text = orjson.dumps(value, option=_OPTIONS)
            if text not in seen:
                seen[text] = len(distinct) + 1
                distinct.append(value)
            column.append(seen[text])
        if distinct:
            values[name] = distinct
            codes.append(column)
    header = orjson.dumps({"n": n, "properties": values, "types": list(types)}, option=_OPTIONS)
    out = b"".join([_LENGTH.pack(len(header)), header, np.array(body["at"], "<i8").tobytes(),
                    np.array(type_codes, "<u4").tobytes(), *(np.array(c, "<u4").tobytes() for c in codes)])
    return lz4.block.compress(out, store_size=True)


def _lists(blob: bytes) -> bytes:
    """0008's blob as 0007's."""
    raw = lz4.block.decompress(blob)
    (length,) = _LENGTH.unpack_from(raw)
    header = json.loads(raw[4:4 + length])
    n, at = header["n"], 4 + length
    kinds = [header["types"][c] for c in np.frombuffer(raw, "<u4", n, at + 8 * n).tolist()]
    properties = {}
    for j, (name, distinct) in enumerate(header["properties"].items()):
        codes = np.frombuffer(raw, "<u4", n, at + 12 * n + 4 * n * j).tolist()
        properties[name] = [distinct[c - 1] if c else None for c in codes]
    body = {"type": kinds, "at": np.frombuffer(raw, "<i8", n, at).tolist(), "properties": properties}
    return zlib.compress(orjson.dumps(body, option=_OPTIONS), 1)


def _convert(convert: Callable[[bytes], bytes]) -> None:
    bind = op.get_bind()
    leads = sa.table("mirror_leads", sa.column("connector"), sa.column("object_type"), sa.column("lead_id"),
                     sa.column("activities", sa.LargeBinary))
    key = (leads.c.connector, leads.c.object_type, leads.c.lead_id)
    update = (sa.update(leads)
              .where(leads.c.connector == sa.bindparam("c"), leads.c.object_type == sa.bindparam("o"),
                     leads.c.lead_id == sa.bindparam("l"))
              .values(activities=sa.bindparam("blob")))
    after: tuple[str, str, str] | None = None
    while True:
        query = sa.select(*key, leads.c.activities).where(leads.c.activities.is_not(None)).order_by(*key).limit(PAGE)
        if after is not None:
            query = query.where(sa.tuple_(*key) > sa.tuple_(*after))
        rows = bind.execute(query).fetchall()
        if not rows:
            return
        bind.execute(update, [{"c": r[0], "o": r[1], "l": r[2], "blob": convert(bytes(r[3]))} for r in rows])
        after = (rows[-1][0], rows[-1][1], rows[-1][2])


def upgrade() -> None:
    _convert(_coded)


def downgrade() -> None:
    _convert(_lists)
