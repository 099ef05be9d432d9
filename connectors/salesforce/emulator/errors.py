"""Salesforce's error bodies, built in one place so every endpoint answers in the same shape.

The REST API answers errors as a JSON *list* of ``{"message", "errorCode"}`` objects, with
``"fields"`` where the error concerns fields (REST API Developer Guide, "Status Codes and Error
Responses"). OAuth errors are ``{"error", "error_description"}`` objects instead (RFC 6749 as
Salesforce implements it). Bulk API 2.0 uses the REST shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass
class ApiError(Exception):
    """An error answer: raised anywhere below the transport, rendered by the transport."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"HTTP {self.status}: {self.body}"


def error_list(code: str, message: str, fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        entry["fields"] = list(fields)
    return [entry]


def api_error(status: int, code: str, message: str, fields: Sequence[str] | None = None) -> ApiError:
    return ApiError(status, error_list(code, message, fields))


def bad_request(code: str, message: str, fields: Sequence[str] | None = None) -> ApiError:
    return api_error(400, code, message, fields)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    return api_error(404, "NOT_FOUND", message)


def json_parser_error(message: str) -> ApiError:
    return bad_request("JSON_PARSER_ERROR", message)


def invalid_session() -> ApiError:
    # The body Salesforce answers for a missing, unknown or expired access token.
    return ApiError(401, error_list("INVALID_SESSION_ID", "Session expired or invalid"),
                    {"WWW-Authenticate": 'Token'})


def no_such_column(name: str, sobject: str) -> ApiError:
    """An unknown (or invisible, for want of field-level security) field in a write body."""
    return bad_request("INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")


def soql_error(code: str, query: str, position: int, message: str) -> ApiError:
    """SOQL errors point at the offending token the way Salesforce does::

        SELECT Id, Foo__c FROM Lead
                   ^
        ERROR at Row:1:Column:12
        No such column 'Foo__c' on entity 'Lead'. ...
    """
    before = query[:position]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    column = position - line_start + 1
    line_end = query.find("\n", position)
    line = query[line_start:line_end if line_end >= 0 else len(query)]
    caret = " " * (column - 1) + "^"
    return bad_request(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}")


def oauth_error(error: str, description: str, status: int = 400) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description})
