"""Salesforce record ids: 15-character case-sensitive ids and their 18-character forms.

An id is a three-character key prefix naming the object (``00Q`` Lead, ``003`` Contact, ...),
two characters of instance, one reserved character and a nine-character base-62 counter. The
API always answers the 18-character form, whose three-character suffix encodes which of the 15
characters are upper case, so the id survives case-insensitive systems. The API accepts either
form on input.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Z]{3})?$")

#: The emulated org's pod characters ("5g") and reserved character ("0").
INSTANCE = "5g0"

#: Key prefixes Salesforce assigns to the objects the emulator holds.
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "Organization": "00D",
    "CustomField": "00N",
    "FieldPermissions": "01k",
    "PermissionSet": "0PS",
    "PermissionSetAssignment": "0Pa",
    "Lead": "00Q",
    "LeadStatus": "01J",
    "OpportunityContactRole": "00K",
    "Task": "00T",
    "Event": "00U",
    "CampaignMember": "00v",
    "QueryLocator": "01g",
    "EmailMessage": "02s",
    "Campaign": "701",
    "Job": "750",
}
OBJECT_BY_PREFIX = {prefix: name for name, prefix in KEY_PREFIXES.items()}


def to18(id15: str) -> str:
    """The 18-character form: per five-character chunk, one suffix character whose bits say
    which of the chunk's characters are upper case (Salesforce's documented checksum)."""
    suffix = ""
    for chunk in range(3):
        part = id15[chunk * 5:chunk * 5 + 5]
        flags = sum(1 << bit for bit, char in enumerate(part) if "A" <= char <= "Z")
        suffix += _SUFFIX[flags]
    return id15 + suffix


def normalise(raw: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or ``None`` if ``raw`` is not an id.

    An 18-character id whose suffix does not match its first 15 characters is still accepted
    with its suffix recomputed, as Salesforce does (the suffix is redundant information).
    """
    if not isinstance(raw, str) or not _SHAPE.match(raw):
        return None
    return to18(raw[:15])


def prefix_of(record_id: str) -> str:
    return record_id[:3]


class IdFactory:
    """Hands out ids per key prefix from a counter, so a seeded org is deterministic."""

    def __init__(self, start: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        self._start = start
        self._next: Counter[str] = Counter()

    def new(self, object_name: str) -> str:
        prefix = KEY_PREFIXES[object_name]
        with self._lock:
            number = self._start + self._next[prefix]
            self._next[prefix] += 1
        digits = ""
        for _ in range(9):
            number, rest = divmod(number, 62)
            digits = _BASE62[rest] + digits
        return to18(prefix + INSTANCE + digits)
