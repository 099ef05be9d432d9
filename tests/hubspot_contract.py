"""HubSpot's own OpenAPI documents as the contract between the connector and the emulator.

While the tests run, ``tests/conftest.py`` hands every request a :class:`HubSpotEmulator`
receives, and its answer, to one :class:`ContractChecker`: the request (what the connector, or
a test, sent) and the response (what the emulator answered) are validated with ``openapi-core``
against the documents in ``<repo>/../shared/specs/hubspot`` (HubSpot's public spec collection).
At the end of the session the checker's counts are printed and any violation fails the run.

What is validated against which document:

- ``/crm/v3/objects/<type>/...``: ``<type>.json`` (contacts, companies, calls, emails, meetings,
  notes, tasks; type ids such as ``0-1`` and singular names are resolved as the emulator resolves
  them). Deals have no document in the collection; the v3 object documents are structurally
  identical across object types (same schemas once descriptions and examples are set aside:
  ``test_hubspot_contract`` checks it), so deal calls are validated against ``contacts.json``'s
  operations with the path's object type swapped;
- ``/crm/v3/properties/...``: ``properties.json``; ``/crm/v4/...``: ``associations.json``;
- anything else (the OAuth token endpoint, routes the emulator does not serve) is counted as not
  covered, never as validated.

A response is always checked. A request is checked too, and its violation counts unless the
emulator refused that request on its content (400, 404, 405, 409, 413, 414, 415, 422): a
request both the document and the emulator reject is a test probing the emulator's refusals.
A request the document rejects but the emulator accepted (or that met a fault, a 429 or a 5xx
before the emulator looked at it) is a violation. Authentication is checked as HubSpot
documents it for private apps and OAuth alike (``Authorization: Bearer <token>``; the documents
declare an ``oauth2`` scheme, which openapi-core cannot check itself); a 401 answer makes a
missing or foreign token expected. Query values are cast as openapi-core casts them: a boolean
may be ``true`` or ``True`` (as HubSpot's own SDK writes Python's ``True``), not ``maybe``.

:data:`GAPS` is the one list of allowed exceptions: the places where HubSpot's documents and
HubSpot's written documentation disagree. Each is applied as a patch to the documents before
they are compiled (so the documentation's rule is what gets validated, not nothing), and each
names its reason. A patch that no longer finds its gap in the documents is reported, so the
list cannot silently outlive the gap.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit

SPECS = Path(__file__).resolve().parents[1].parent / "shared" / "specs" / "hubspot"
HOST = "https://api.hubapi.com"  # the documents' server

#: The v3 object documents in the collection, by the object type they describe.
OBJECT_DOCUMENTS = ("contacts", "companies", "calls", "emails", "meetings", "notes", "tasks")
#: Object types without a document of their own, validated against a structurally identical one.
BORROWED_DOCUMENTS = {"deals": "contacts"}
DOCUMENTS = (*OBJECT_DOCUMENTS, "properties", "associations")

#: Statuses by which the emulator refuses a request for what it contains.
REFUSED = frozenset({400, 404, 405, 409, 413, 414, 415, 422})


# --- the allowed exceptions --------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """One place where HubSpot's OpenAPI document and its written documentation disagree.

    ``patch`` rewrites a document (name, parsed JSON) to the documented rule and returns how many
    places it changed; 0 in every document means the gap is gone and the entry should go too.
    """

    id: str
    spec: str  # what the OpenAPI document says
    documentation: str  # what HubSpot's documentation says, which is followed
    patch: Callable[[str, dict[str, Any]], int]
    listed: bool = True  # named in ../shared/specs/hubspot/README.md's list of known gaps


def _schemas(document: dict[str, Any]) -> dict[str, Any]:
    return document.get("components", {}).get("schemas", {})


def _drop_required(schema_name: str, *names: str) -> Callable[[str, dict[str, Any]], int]:
    def patch(_: str, document: dict[str, Any]) -> int:
        schema = _schemas(document).get(schema_name)
        if not schema:
            return 0
        before = list(schema.get("required", []))
        schema["required"] = [r for r in before if r not in names]
        if not schema["required"]:
            del schema["required"]
        return len(before) - len(schema.get("required", []))

    return patch


def _documented_sorts(_: str, document: dict[str, Any]) -> int:
    schema = _schemas(document).get("PublicObjectSearchRequest")
    if not schema or schema["properties"]["sorts"].get("items", {}).get("type") != "string":
        return 0
    schema["properties"]["sorts"]["items"] = {"oneOf": [
        {"type": "string"},  # the document's form: a property name, ascending
        {"type": "object", "required": ["propertyName"], "properties": {
            "propertyName": {"type": "string"},
            "direction": {"type": "string", "enum": ["ASCENDING", "DESCENDING"]}}},
    ]}
    return 1


def _batch_limits(name: str, document: dict[str, Any]) -> int:
    """``maxItems`` on the ``inputs`` of batch bodies where HubSpot documents a limit: 100 on
    the v3 object endpoints, 1,000 on the v4 association read (the others keep the document's)."""
    changed = 0
    for schema_name, schema in _schemas(document).items():
        inputs = schema.get("properties", {}).get("inputs")
        if not inputs or "maxItems" in inputs:
            continue
        if name in OBJECT_DOCUMENTS and schema_name.startswith(("BatchInput", "BatchReadInput")):
            inputs["maxItems"] = 100
        elif name == "associations" and schema_name == "BatchInputPublicFetchAssociationsBatchRequest":
            inputs["maxItems"] = 1000
        else:
            continue
        changed += 1
    return changed


def _json_errors(_: str, document: dict[str, Any]) -> int:
    response = document.get("components", {}).get("responses", {}).get("Error")
    if not response or "*/*" not in response.get("content", {}) or "application/json" in response["content"]:
        return 0
    schema = response["content"]["*/*"]["schema"]
    # JSON bodies are held to the Error schema; anything else (a gateway's HTML page on a 502)
    # still matches */*, without a schema, which is all the document promises for it.
    response["content"] = {"application/json": {"schema": schema}, "*/*": {}}
    return 1


def _errors_without_category(_: str, document: dict[str, Any]) -> int:
    schemas = _schemas(document)
    error = schemas.get("Error")
    if not error or "category" not in error.get("required", []):
        return 0
    relaxed = copy.deepcopy(error)
    relaxed["required"] = [r for r in relaxed["required"] if r != "category"]
    schemas["ErrorWithoutCategory"] = relaxed
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorWithoutCategory"}}, "*/*": {}}
    changed = 0
    for path in document.get("paths", {}).values():
        for method, operation in path.items():
            if method in ("get", "post", "put", "patch", "delete"):
                for status in ("429", "5XX"):
                    operation["responses"].setdefault(status, {"description": "", "content": content})
                changed += 1
    return changed


def _standard_error_examples(_: str, document: dict[str, Any]) -> int:
    schema = _schemas(document).get("StandardError")
    if not schema:
        return 0
    changed = _drop_required("StandardError", "errors", "links")(_, document)
    if schema["properties"].get("subCategory", {}).get("type") == "object":
        schema["properties"]["subCategory"] = {"type": "string"}
        changed += 1
    return changed


def _association_targets(_: str, document: dict[str, Any]) -> int:
    schemas = _schemas(document)
    changed = 0
    target = schemas.get("MultiAssociatedObjectWithLabel", {}).get("properties", {})
    if target.get("toObjectId", {}).get("type") == "string":
        target["toObjectId"] = {"type": "integer", "format": "int64"}
        changed += 1
    label = schemas.get("AssociationSpecWithLabel", {}).get("properties", {}).get("label")
    if label is not None and not label.get("nullable"):
        label["nullable"] = True
        changed += 1
    return changed


#: THE list of allowed exceptions. Nothing else in the documents is relaxed.
GAPS: tuple[Gap, ...] = (
    Gap("search-after-sorts-required",
        "PublicObjectSearchRequest requires `after` and `sorts`",
        "Search guide: `after` is only sent for a following page, `sorts` only to change the default "
        "order (creation date); its examples send neither",
        _drop_required("PublicObjectSearchRequest", "after", "sorts")),
    Gap("search-request-fields-optional",
        "PublicObjectSearchRequest requires `filterGroups`, `limit` and `properties` too",
        "Search guide: \"To make a basic search returning only default properties with no additional "
        "filtering or sorting, include only an empty object in the request body\" (`{}`); `limit` "
        "defaults to 10 and the type's default properties are returned when none are named",
        _drop_required("PublicObjectSearchRequest", "filterGroups", "limit", "properties"), listed=False),
    Gap("search-sorts-are-objects",
        "PublicObjectSearchRequest types `sorts` items as strings",
        "Search guide: a sort is an object `{\"propertyName\": ..., \"direction\": \"ASCENDING\"|\"DESCENDING\"}`; "
        "both forms are accepted (the emulator takes the document's string as an ascending sort)",
        _documented_sorts),
    Gap("batch-read-properties-with-history-required",
        "BatchReadInputSimplePublicObjectId requires `propertiesWithHistory`",
        "Objects guide: a batch read names `properties` and/or `propertiesWithHistory`; the guide's "
        "batch read examples send `properties` alone",
        _drop_required("BatchReadInputSimplePublicObjectId", "propertiesWithHistory")),
    Gap("batch-inputs-max-items",
        "no `maxItems` on the `inputs` of batch bodies (any size validates)",
        "Objects guide / usage guidelines: object batch endpoints take at most 100 inputs; the v4 "
        "association batch read at most 1,000 (changelog, February 2025). The limits are added, "
        "so an oversized batch is a violation unless the emulator refuses it",
        _batch_limits),
    Gap("error-bodies-typed-any",
        "error responses (`default`) are typed `*/*`, which openapi-core cannot decode",
        "Error-handling guide: error bodies are JSON. JSON bodies are validated against the `Error` "
        "schema; non-JSON ones (a gateway's HTML page on a 502/504) match `*/*` as the document says",
        _json_errors),
    Gap("error-category-optional-on-429-and-5xx",
        "the `Error` schema requires `category`",
        "Usage guidelines: a 429 body is `{status, message, errorType, correlationId, policyName}`, "
        "without `category`; the error-handling guide: \"the fields ... should all be treated as "
        "optional\" and vary between APIs, which the emulator's 5xx bodies (no category) rely on",
        _errors_without_category, listed=False),
    Gap("multi-status-errors-as-documented",
        "StandardError (the `errors[]` of a 207) requires `errors` and `links`, and types "
        "`subCategory` as an object",
        "Every 207 example in the guides (batch read OBJECT_NOT_FOUND, batch create with "
        "objectWriteTraceId, v4 NO_ASSOCIATIONS_FOUND) omits `errors` and `links`; the v4 guide sends "
        "`subCategory` as a string (\"crm.associations.NO_ASSOCIATIONS_FOUND\")",
        _standard_error_examples, listed=False),
    Gap("v4-association-targets",
        "MultiAssociatedObjectWithLabel types `toObjectId` as a string; `label` is not nullable",
        "Associations v4 guide: `\"toObjectId\": 5790939450` (a number) and `\"label\": null` for an "
        "unlabelled (HUBSPOT_DEFINED) association",
        _association_targets, listed=False),
)


def patched_document(name: str, document: dict[str, Any], gaps: Iterable[Gap] = GAPS) -> tuple[dict[str, Any], Counter[str]]:
    """A copy of ``document`` with every gap patched, and how many places each gap changed."""
    document = copy.deepcopy(document)
    applied: Counter[str] = Counter()
    for gap in gaps:
        applied[gap.id] += gap.patch(name, document)
    return document, applied


# --- compiling the documents (once per process) ------------------------------------------------


class _Compiled:
    def __init__(self, spec_dir: Path) -> None:
        from openapi_core import Config, OpenAPI
        from openapi_core.security.factories import SecurityProviderFactory
        from openapi_core.security.providers import HttpProvider

        class BearerProvider(HttpProvider):
            """``oauth2`` as HubSpot uses it: a bearer token in ``Authorization``."""

            def __call__(self, parameters: Any) -> Any:
                from openapi_core.security.exceptions import SecurityProviderError

                header = parameters.header.get("Authorization", "")
                kind, _, token = header.partition(" ")
                if kind.lower() != "bearer" or not token:
                    raise SecurityProviderError("missing Authorization: Bearer <token>")
                return token

        factory = SecurityProviderFactory()
        factory.PROVIDERS = {**SecurityProviderFactory.PROVIDERS, "oauth2": BearerProvider}
        config = Config(security_provider_factory=factory)
        self.apis: dict[str, Any] = {}
        self.applied: Counter[str] = Counter()
        for name in DOCUMENTS:
            raw = json.loads((spec_dir / f"{name}.json").read_text(encoding="utf-8"))
            document, applied = patched_document(name, raw)
            self.applied.update(applied)
            self.apis[name] = OpenAPI.from_dict(document, config=config)


@lru_cache(maxsize=4)
def compiled(spec_dir: Path = SPECS) -> _Compiled:
    """The patched documents, compiled once per directory and process."""
    return _Compiled(spec_dir)


def available(spec_dir: Path = SPECS) -> str | None:
    """``None`` when the check can run, else why not (for a skip)."""
    if not all((spec_dir / f"{name}.json").is_file() for name in DOCUMENTS):
        return f"HubSpot OpenAPI documents not found at {spec_dir}"
    try:
        import openapi_core  # noqa: F401
    except ImportError:
        return "openapi-core is not installed (pip install -e '.[dev]')"
    return None


# --- requests and responses as openapi-core reads them -----------------------------------------


class _Request:
    def __init__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes) -> None:
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.host_url = HOST
        self.path = path
        self.method = method.lower()
        self.body = body or None
        self.content_type = (headers.get("Content-Type") or headers.get("content-type") or "application/json").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(query, keep_blank_values=True)),
            header=Headers(list(headers.items())),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]) -> None:
        from werkzeug.datastructures import Headers

        self.status_code = status
        self.data = data
        self.content_type = content_type
        self.headers = Headers(list(headers.items()))


def _route(path: str) -> tuple[str, str, str] | None:
    """(document, path as the document spells it, what to count it as), or None when no document
    covers the path."""
    from leadscore.connectors.hubspot.emulator.schema import resolve_object_type

    parts = path.split("/")
    if path.startswith("/crm/v3/objects/") and len(parts) > 4:
        kind = resolve_object_type(parts[4])
        if kind is None:
            return None
        name = BORROWED_DOCUMENTS.get(kind.name, kind.name)
        if name not in OBJECT_DOCUMENTS:
            return None
        label = name if name == kind.name else f"{kind.name} (as {name})"
        return name, "/".join([*parts[:4], name, *parts[5:]]), label
    if path.startswith("/crm/v3/properties/"):
        return "properties", path, "properties"
    if path.startswith("/crm/v4/"):
        return "associations", path, "associations"
    return None


def _template(path: str) -> str:
    """A path with record ids and names of things replaced, for grouping violations."""
    return re.sub(r"/\d[\w-]*", "/{id}", path)


# --- the checker -------------------------------------------------------------------------------


@dataclass
class Violation:
    direction: str  # "request" or "response"
    method: str
    path: str  # templated
    status: int
    message: str
    test: str | None  # the test that was running when it was first seen

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        return self.direction, self.method, self.path, self.status, self.message

    def __str__(self) -> str:
        where = f" (first in {self.test})" if self.test else ""
        return f"{self.direction} {self.method} {self.path} -> {self.status}: {self.message}{where}"


@dataclass
class ContractChecker:
    """Validates exchanges against the patched documents and keeps counts and violations."""

    spec_dir: Path = SPECS
    requests: int = 0  # requests validated
    responses: int = 0  # responses validated
    refused: int = 0  # requests both the document and the emulator refused
    by_document: Counter[str] = field(default_factory=Counter)
    uncovered: Counter[str] = field(default_factory=Counter)
    violations: dict[tuple[str, str, str, int, str], Violation] = field(default_factory=dict)
    occurrences: Counter[tuple[str, str, str, int, str]] = field(default_factory=Counter)
    current_test: str | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._compiled = compiled(self.spec_dir)

    @property
    def applied(self) -> Counter[str]:
        return self._compiled.applied

    def stale_gaps(self) -> list[str]:
        """Gaps no document has any more (their patches changed nothing)."""
        return [gap.id for gap in GAPS if not self.applied[gap.id]]

    # The hook the emulator's pipeline calls (see tests/conftest.py).
    def observe(self, method: str, target: str, headers: Mapping[str, str], raw: bytes, answer: Any) -> None:
        split = urlsplit(target)
        path = split.path.rstrip("/") or "/"
        routed = _route(path)
        if routed is None:
            with self._lock:
                self.uncovered[f"{method} {_template(path)}"] += 1
            return
        document, spec_path, label = routed
        request = _Request(method, spec_path, split.query, dict(headers.items()), raw)
        status = answer.status if answer is not None else 0
        with self._lock:
            api = self._compiled.apis[document]
            request_errors = list(_messages(api.iter_request_errors(request)))
            self.requests += 1
            self.by_document[label] += 1
            if request_errors and status in REFUSED:
                self.refused += 1
            else:
                for message in request_errors:
                    if status == 401 and message.startswith("security"):
                        continue
                    self._add(Violation("request", method, _template(path), status, message, self.current_test))
            if answer is None:
                return
            response = _Response(status, *_wire(answer))
            if any(message.startswith(("path", "operation")) for message in request_errors):
                # No such operation in the document: the emulator must not have served it.
                if status < 400:
                    self._add(Violation("response", method, _template(path), status,
                                        "the emulator served an operation the document does not have", self.current_test))
                return
            for message in _messages(api.iter_response_errors(request, response)):
                self._add(Violation("response", method, _template(path), status, message, self.current_test))
            self.responses += 1

    def failed(self, method: str, target: str, answer: Any, error: BaseException) -> None:
        """The checker itself failed on an exchange: reported like a violation, never ignored."""
        path = _template(urlsplit(target).path)
        with self._lock:
            self._add(Violation("checker", method, path, answer.status if answer is not None else 0,
                                _short(f"{type(error).__name__}: {error}"), self.current_test))

    def _add(self, violation: Violation) -> None:
        self.occurrences[violation.key] += 1
        self.violations.setdefault(violation.key, violation)

    # --- reporting ----------------------------------------------------------------------------

    def summary(self) -> list[str]:
        documents = ", ".join(f"{name} {count}" for name, count in self.by_document.most_common())
        lines = [
            f"HubSpot contract (openapi-core, {self.spec_dir}): {self.requests} requests and {self.responses} "
            f"responses validated ({documents}); {self.refused} requests the documents reject were refused by "
            f"the emulator too; {sum(self.uncovered.values())} requests outside the documents "
            f"({', '.join(f'{k} {v}' for k, v in self.uncovered.most_common(5)) or 'none'})",
            f"HubSpot contract: allowed gaps ({len(GAPS)}): {', '.join(g.id for g in GAPS)}",
            f"HubSpot contract: {len(self.violations)} unlisted violations"
            + (f" ({sum(self.occurrences.values())} occurrences)" if self.violations else ""),
        ]
        stale = self.stale_gaps()
        if stale:
            lines.append(f"HubSpot contract: gaps no longer in the documents (remove from GAPS): {', '.join(stale)}")
        for violation in self.violations.values():
            lines.append(f"  x{self.occurrences[violation.key]} {violation}")
        return lines


def _wire(answer: Any) -> tuple[bytes, str, Mapping[str, str]]:
    """The answer's body bytes and content type, as the emulator's transport sends them."""
    headers = dict(answer.headers)
    if isinstance(answer.body, bytes):
        return answer.body, headers.get("Content-Type", "application/octet-stream").lower(), headers
    if answer.body is None:
        return b"", headers.get("Content-Type", "").lower(), headers
    data = json.dumps(answer.body, separators=(",", ":")).encode()
    return data, headers.get("Content-Type", "application/json;charset=utf-8").lower(), headers


def _messages(errors: Iterable[BaseException]) -> Iterable[str]:
    """One short line per problem: each schema error with its location, else the exception."""
    from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound, ServerNotFound
    from openapi_core.validation.request.exceptions import SecurityValidationError

    for error in errors:
        if isinstance(error, (PathNotFound, ServerNotFound)):
            yield f"path not in the document: {error}"
            continue
        if isinstance(error, OperationNotFound):
            yield f"operation not in the document: {error}"
            continue
        if isinstance(error, SecurityValidationError):
            yield f"security: {error}"
            continue
        schema_errors = _schema_errors(error)
        if not schema_errors:
            cause = error.__cause__
            yield _short(f"{type(error).__name__}: {error}" + (f" ({cause})" if cause else ""))
            continue
        where = getattr(error, "name", None) or type(error).__name__
        for schema_error in schema_errors:
            location = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in schema_error.absolute_path)
            message = schema_error.message
            instance = repr(schema_error.instance)
            if len(instance) > 80 and instance in message:  # "[{...}, ... 101 items] is too long"
                message = message.replace(instance, _short(instance, 60))
            yield _short(f"{where}{location}: {message} ({schema_error.validator})")


def _schema_errors(error: BaseException) -> list[Any]:
    seen = error
    while seen is not None:
        found = getattr(seen, "schema_errors", None)
        if found:
            return list(found)
        seen = seen.__cause__ or seen.__context__
    return []


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
