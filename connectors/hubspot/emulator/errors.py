"""HubSpot's error bodies, built in one place so every endpoint answers in the same shape.

HubSpot's error-handling guide documents the common body::

    {"status": "error", "message": "...", "correlationId": "<uuid>", "category": "VALIDATION_ERROR",
     "errors": [{"message": "...", "code": "...", "context": {...}}]}

and says every field should be treated as optional; the emulator always sends ``status``,
``message`` and ``correlationId`` (the fields the ``Error`` schema in the OpenAPI documents
requires) plus ``category`` where HubSpot documents one. Rate-limit answers carry ``errorType``
and ``policyName`` instead of ``category``, as the usage guidelines show.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


def correlation_id() -> str:
    return str(uuid.uuid4())


@dataclass
class ApiError(Exception):
    """An error answer: raised anywhere below the transport, rendered by the transport."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"HTTP {self.status}: {self.body.get('message')}"


def error_body(
    message: str,
    category: str | None = None,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    context: Mapping[str, Sequence[str]] | None = None,
    sub_category: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": message, "correlationId": correlation_id()}
    if errors:
        body["errors"] = [dict(e) for e in errors]
    if context:
        body["context"] = {k: list(v) for k, v in context.items()}
    if category:
        body["category"] = category
    if sub_category:
        body["subCategory"] = sub_category
    return body


def validation_error(message: str, **kwargs: Any) -> ApiError:
    return ApiError(400, error_body(message, "VALIDATION_ERROR", **kwargs))


def not_found(message: str = "resource not found") -> ApiError:
    return ApiError(404, error_body(message, "OBJECT_NOT_FOUND"))


def conflict(message: str, category: str = "CONFLICT") -> ApiError:
    return ApiError(409, error_body(message, category))


def invalid_json(detail: str) -> ApiError:
    return validation_error(f"Invalid input JSON on line 1, column 1: {detail}")


# --- property value errors -------------------------------------------------------------------


@dataclass(frozen=True)
class PropertyProblem:
    """One entry of HubSpot's ``Property values were not valid: [...]`` message.

    HubSpot serialises the per-property entries as a JSON array *inside* the message string
    (``{"isValid": false, "message": ..., "error": "PROPERTY_DOESNT_EXIST", "name": ...}``) and
    repeats them as structured ``errors`` with ``code`` and ``context.propertyName``, as the
    objects API guide's 400 example shows.
    """

    name: str
    code: str
    message: str

    def as_entry(self, portal_id: int) -> dict[str, Any]:
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
            "portalId": portal_id,
        }

    def as_detail(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "context": {"propertyName": [self.name]}}


def property_values_message(problems: Sequence[PropertyProblem], portal_id: int) -> str:
    entries = json.dumps([p.as_entry(portal_id) for p in problems], separators=(",", ":"))
    return f"Property values were not valid: {entries}"


def property_values_error(problems: Sequence[PropertyProblem], portal_id: int) -> ApiError:
    return validation_error(
        property_values_message(problems, portal_id), errors=[p.as_detail() for p in problems]
    )


# --- multi-status entries ------------------------------------------------------------------------


def batch_error(category: str, message: str, context: Mapping[str, Sequence[str]],
                sub_category: str | None = None) -> dict[str, Any]:
    """One ``errors[]`` entry of a 207 answer, as HubSpot's documented examples show it.

    The OpenAPI ``StandardError`` schema marks ``errors`` and ``links`` required, but every
    207 example in HubSpot's guides (batch read OBJECT_NOT_FOUND, batch create with
    ``objectWriteTraceId``, v4 associations NO_ASSOCIATIONS_FOUND) omits them; the emulator
    follows the examples, so clients must not rely on those keys.
    """
    entry: dict[str, Any] = {"status": "error", "category": category}
    if sub_category:
        entry["subCategory"] = sub_category
    entry["message"] = message
    entry["context"] = {k: list(v) for k, v in context.items()}
    return entry
