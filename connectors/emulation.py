"""The HTTP plumbing and fault injection every CRM emulator shares.

A CRM emulator (``connectors.hubspot.emulator``, ``connectors.salesforce.emulator``) is one
tenant of a vendor's API served over real HTTP on loopback, so the real SDKs talk to it
unchanged. What every one of them needs, and what lives here:

- :class:`Answer`, an endpoint's reply before it is put on the wire, and :class:`Call`, the
  fields every vendor's request-as-handlers-see-it starts with;
- :class:`Emulator`, the base of each emulator's Python handle: start/stop in a daemon thread,
  the request log (:class:`LoggedRequest`, :class:`RequestLog`) and the request pipeline's
  skeleton (:meth:`Emulator.dispatch`: route, then the injected fault, then the vendor's
  answer);
- :class:`EmulatorServer` and :class:`EmulatorHandler`, the threaded HTTP/1.1 keep-alive
  transport: dropping a connection with an RST, ending idle keep-alive connections on stop,
  writing JSON, bytes or empty bodies with ``Content-Length``;
- :class:`FaultPlan`, :class:`Fault` and :class:`FaultInjector`, seeded fault injection
  (latency, dropped connections, error statuses) decided before anything touches data;
- :class:`Router`, the table of routes (method, path template, target) a vendor's API matches a
  request against, answering which methods a path has when none is the request's.

What is vendor-specific stays in each emulator: error bodies and which body a faulted status
gets, headers such as ``X-HubSpot-Correlation-Id`` or ``Sforce-Limit-Info`` (through
:meth:`EmulatorHandler.vendor_headers` and the answers themselves), reason phrases, the JSON
content type's spelling, TLS (through :meth:`EmulatorServer.handshake`), routes,
authentication, rate limits and API usage accounting, and each vendor's default fault statuses.
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import struct
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar, Generic, Iterable, Mapping, Protocol, Self, Sequence, TypeVar
from urllib.parse import urlsplit

# --- answers and requests -------------------------------------------------------------------------


@dataclass
class Answer:
    """An endpoint's reply. ``body`` is sent as JSON unless it is ``bytes`` (sent as is, with
    the ``Content-Type`` the headers give) or ``None`` (no body)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """The start of a request as an emulator's handlers see it; each vendor's ``Call`` adds
    what its handlers need (a parsed body, the raw headers and bytes, ...)."""

    method: str
    path: str
    query: Mapping[str, Sequence[str]]

    def param(self, name: str) -> str | None:
        """A query parameter's value (the last, when it is repeated), or ``None``."""
        found = self.query.get(name)
        return found[-1] if found else None


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request as it came off the wire, with the path the routes match: ``target``
    without its query string and without a trailing slash (``"/"`` for the root)."""

    method: str
    target: str
    headers: Mapping[str, str]
    raw: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path.rstrip("/") or "/"

    @property
    def query(self) -> str:
        """The query string, unparsed (vendors differ on blank values)."""
        return urlsplit(self.target).query


class Routed(Protocol):
    """What the pipeline needs of a vendor's route: the endpoint family it logs."""

    @property
    def endpoint(self) -> str: ...


# --- routing --------------------------------------------------------------------------------------

T = TypeVar("T")

_PARAMETER = re.compile(r"\{(\w+)(?::([^{}]+))?\}")


def path_pattern(template: str) -> re.Pattern[str]:
    """The pattern a path template stands for: ``{name}`` matches one path segment and
    ``{name:regex}`` what ``regex`` matches (no braces in it), each captured as ``name``; the rest
    is literal, and the whole path must match (``/crm/v3/objects/{t}/{id}``)."""
    parts: list[str] = []
    end = 0
    for found in _PARAMETER.finditer(template):
        parts.append(re.escape(template[end:found.start()]))
        parts.append(f"(?P<{found.group(1)}>{found.group(2) or '[^/]+'})")
        end = found.end()
    parts.append(re.escape(template[end:]))
    return re.compile("^" + "".join(parts) + "$")


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    """What a :class:`Router` found for a request: the route's target and the path's parameters
    (as sent: still percent-encoded), or no target and the methods the path has routes for
    (empty: no route has the path at all)."""

    target: T | None
    params: dict[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()


class Router(Generic[T]):
    """A vendor's routes, tried in order: ``(method, path template, target)``, each template
    under ``prefix`` (see :func:`path_pattern`). The first route matching both the method and
    the path wins."""

    def __init__(self, routes: Iterable[tuple[str, str, T]], *, prefix: str = "") -> None:
        self._routes = [(method, path_pattern(prefix + template), target) for method, template, target in routes]

    def match(self, method: str, path: str) -> RouteMatch[T]:
        allowed: list[str] = []
        for verb, pattern, target in self._routes:
            found = pattern.match(path)
            if found is None:
                continue
            if verb == method:
                return RouteMatch(target, found.groupdict())
            allowed.append(verb)
        return RouteMatch(None, allowed=tuple(allowed))


# --- ranges of values, as an index answers them -------------------------------------------------


class Interval:
    """A range of comparable values, each end open, closed or absent: what a query's comparisons
    on one indexed field allow (each emulator narrows it with its own API's operators)."""

    __slots__ = ("lo", "lo_strict", "hi", "hi_strict")

    def __init__(self) -> None:
        self.lo: Any = None
        self.lo_strict = False
        self.hi: Any = None
        self.hi_strict = False

    def above(self, value: Any, strict: bool) -> None:
        """Intersect with ``> value`` (``strict``) or ``>= value``."""
        if self.lo is None or value > self.lo or (value == self.lo and strict):
            self.lo, self.lo_strict = value, strict

    def below(self, value: Any, strict: bool) -> None:
        """Intersect with ``< value`` (``strict``) or ``<= value``."""
        if self.hi is None or value < self.hi or (value == self.hi and strict):
            self.hi, self.hi_strict = value, strict


# --- the request log ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoggedRequest:
    """One request the emulator received. ``status`` is 0 for a dropped connection."""

    method: str
    path: str
    status: int
    endpoint: str
    at: float


class RequestLog:
    """Every request an emulator received, in order, stamped on the emulator's clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def record(self, method: str, path: str, status: int, endpoint: str) -> None:
        with self._lock:
            self._entries.append(LoggedRequest(method, path, status, endpoint, self._clock()))

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def endpoint_counts(self) -> Counter[str]:
        with self._lock:
            return Counter(entry.endpoint for entry in self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- fault injection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultPlan:
    """What an emulator's ``set_faults`` configured: the share of requests answered with one of
    ``statuses``, the share whose connection is dropped, and a delay before every answer. Each
    vendor's ``FaultPlan`` subclass sets its own default ``statuses``."""

    error_rate: float = 0.0
    statuses: tuple[int, ...] = (500, 502, 503, 504)
    drop_rate: float = 0.0
    latency: float = 0.0


@dataclass(frozen=True)
class Fault:
    """The fault chosen for one request: a dropped connection or an error status."""

    drop: bool = False
    status: int | None = None


class FaultInjector:
    """Seeded, so a test run sees the same faults in the same order every time.

    Each request draws from the seeded generator in a fixed order: one number for the drop
    (when ``drop_rate`` is set), one for the error (when ``error_rate`` is set), then the status,
    then whatever :meth:`error_fault` draws. Changing that order changes every seeded test run.
    """

    #: The plan in force before ``configure`` is first called (a vendor's ``FaultPlan``).
    plan_type: ClassVar[type[FaultPlan]] = FaultPlan
    #: The type :meth:`choose` answers (a vendor's ``Fault``).
    fault_type: ClassVar[type[Fault]] = Fault

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.plan = self.plan_type()
        self._rng = random.Random(0)

    def configure(self, plan: FaultPlan, seed: int) -> None:
        if not 0.0 <= plan.error_rate <= 1.0 or not 0.0 <= plan.drop_rate <= 1.0:
            raise ValueError("error_rate and drop_rate must be between 0 and 1")
        if plan.error_rate > 0 and not plan.statuses:
            raise ValueError("error_rate needs at least one status to answer")
        if plan.latency < 0:
            raise ValueError("latency must not be negative")
        with self._lock:
            self.plan = plan
            self._rng = random.Random(seed)

    def choose(self) -> Fault | None:
        """Decide this request's fault before anything touches data."""
        with self._lock:
            plan = self.plan
            if plan.drop_rate and self._rng.random() < plan.drop_rate:
                return self.fault_type(drop=True)
            if plan.error_rate and self._rng.random() < plan.error_rate:
                return self.error_fault(self._rng.choice(plan.statuses), self._rng)
            return None

    def error_fault(self, status: int, rng: random.Random) -> Fault:
        """The fault answering ``status``; a vendor may draw more from ``rng`` (under the lock)
        to vary how it answers."""
        return self.fault_type(status=status)

    def strike(self) -> Fault | None:
        """:meth:`choose` this request's fault, then wait the plan's latency."""
        plan = self.plan
        fault = self.choose()
        if plan.latency:
            time.sleep(plan.latency)
        return fault


def statuses_tuple(statuses: Sequence[int]) -> tuple[int, ...]:
    return tuple(int(s) for s in statuses)


# --- the emulator handle --------------------------------------------------------------------------


class Emulator:
    """The base of an emulator's Python handle: one tenant served on ``127.0.0.1`` in a daemon
    thread, with a request log and the request pipeline's skeleton (:meth:`dispatch`).

    A vendor's emulator calls ``super().__init__`` with its port, clock, fault injector, handler
    class and thread name, and implements the pipeline's vendor steps: :meth:`_route`,
    :meth:`_fault_answer` and :meth:`_answer`. It overrides :meth:`_new_server` to serve
    something other than plain HTTP (TLS).
    """

    def __init__(
        self,
        *,
        port: int,
        clock: Callable[[], float],
        faults: FaultInjector,
        handler: type[EmulatorHandler],
        thread_name: str,
    ) -> None:
        self._port = port
        self._clock = clock
        self._faults = faults
        self._handler = handler
        self._thread_name = thread_name
        self._request_log = RequestLog(clock)
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Self:
        """Serve on ``127.0.0.1:port`` (0 picks a free port) in a daemon thread."""
        if self._server is not None:
            return self
        server = self._new_server(("127.0.0.1", self._port), self._handler.for_emulator(self))
        self._server = server
        # A short poll interval makes stop() quick: shutdown() waits for the serve loop to poll.
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self._thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()  # pooled keep-alive connections must not outlive the tenant
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port being served (chosen at :meth:`start` when ``port`` was 0)."""
        if self._server is None:
            raise RuntimeError("the emulator is not serving: call start() first")
        return int(self._server.server_address[1])

    def _new_server(self, address: tuple[str, int], handler: type[EmulatorHandler]) -> EmulatorServer:
        return EmulatorServer(address, handler)

    # --- request log --------------------------------------------------------------------------

    def requests(self) -> list[LoggedRequest]:
        return self._request_log.entries()

    def call_counts(self) -> Counter[str]:
        """Requests per endpoint family (the routes' ``endpoint`` names)."""
        return self._request_log.endpoint_counts()

    def reset_log(self) -> None:
        self._request_log.clear()

    # --- the pipeline -------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Answer | None:
        """Answer one HTTP request; ``None`` means drop the connection without answering.

        The route is found first (so the log names the endpoint of a faulted request too), then
        the injected latency and fault are applied before the vendor's steps run, so a faulted
        request touches no data; every request is logged, a dropped one with status 0.
        """
        request = RawRequest(method, target, headers, raw)
        path = request.path
        route = self._route(method, path)
        fault = self._faults.strike()
        if fault is not None and fault.drop:
            self._request_log.record(method, path, 0, route.endpoint)
            return None
        answer = self._fault_answer(fault) if fault is not None else self._answer(route, request)
        self._request_log.record(method, path, answer.status, route.endpoint)
        return answer

    def _route(self, method: str, path: str) -> Routed:
        """The vendor's route for a request (an "unknown" one where nothing matches)."""
        raise NotImplementedError

    def _fault_answer(self, fault: Fault) -> Answer:
        """How the vendor answers an injected error status."""
        raise NotImplementedError

    def _answer(self, route: Any, request: RawRequest) -> Answer:
        """The vendor's answer to a request no fault was injected into (authentication,
        metering and the endpoint itself)."""
        raise NotImplementedError


# --- HTTP transport -------------------------------------------------------------------------------


class EmulatorServer(ThreadingHTTPServer):
    """A thread per connection; tracks open connections so :meth:`close_connections` can end
    idle keep-alive ones when the emulator stops.

    A plain connection is tracked as it is accepted, before its thread starts. A subclass whose
    connections need work before HTTP starts (a TLS handshake) sets :attr:`handshakes` and
    overrides :meth:`handshake`, which runs in the connection's own thread, so a slow or broken
    client cannot stall the accept loop; the connection it returns is tracked and served.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    #: Whether :meth:`handshake` runs on each accepted connection.
    handshakes: ClassVar[bool] = False

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()

    def handshake(self, request: Any) -> Any | None:
        """The connection to serve for an accepted socket, or ``None`` to give it up (the
        subclass closes it)."""
        return request

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.handshakes:
            self._track(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        if self.handshakes:
            request = self.handshake(request)
            if request is None:
                return
            self._track(request)
        super().process_request_thread(request, client_address)

    def _track(self, connection: Any) -> None:
        with self._open_lock:
            self._open.add(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid-answer (it timed out, was killed, dropped its pool) is a normal day
        for a server, not a traceback on stderr; anything else is reported as ``socketserver`` does."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_now = list(self._open)
        for connection in open_now:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):  # already closed (a TLS socket says so with ValueError)
                pass


class Dispatcher(Protocol):
    def dispatch(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Answer | None: ...


class EmulatorHandler(BaseHTTPRequestHandler):
    """Reads a request, asks the emulator to :meth:`~Emulator.dispatch` it, and writes the
    :class:`Answer` (or drops the connection).

    A vendor's subclass sets :attr:`server_version`, :attr:`json_content_type` and
    :attr:`reasons`, and overrides :meth:`vendor_headers` for headers every response carries.
    """

    #: Answers go out at once rather than waiting on the client's delayed ACK (about 40 ms per
    #: response otherwise): a real CRM's front end does not make each answer wait either.
    disable_nagle_algorithm = True

    protocol_version = "HTTP/1.1"  # keep-alive, so clients' connection pools behave as against the real API
    server_version = "Emulator/1.0"
    sys_version = ""
    timeout = 60
    #: The ``Content-Type`` of JSON bodies, unless the answer's headers give one.
    json_content_type: ClassVar[str] = "application/json"
    #: Reason phrases by status; statuses not listed get http.server's.
    reasons: ClassVar[Mapping[int, str]] = {}
    emulator: Dispatcher

    @classmethod
    def for_emulator(cls, emulator: Dispatcher) -> type[EmulatorHandler]:
        """This handler class bound to one emulator (http.server instantiates it per connection)."""
        return type(cls.__name__, (cls,), {"emulator": emulator})

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def do_PATCH(self) -> None:  # noqa: N802
        self._serve()

    def do_PUT(self) -> None:  # noqa: N802
        self._serve()

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve()

    def vendor_headers(self, answer: Answer) -> Mapping[str, str]:
        """Headers added to every response, after ``Content-Type`` and unless the answer sets
        them itself."""
        return {}

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        answer = self.emulator.dispatch(self.command, self.path, self.headers, raw)
        if answer is None:
            self._drop()
            return
        self._send(answer)

    def _drop(self) -> None:
        """Close without a byte of response; RST (linger 0) so the client sees it at once."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:  # pragma: no cover - platform without SO_LINGER
            pass

    def _send(self, answer: Answer) -> None:
        headers = dict(answer.headers)
        if isinstance(answer.body, bytes):
            payload = answer.body
        elif answer.body is None:
            payload = b""
        else:
            payload = json.dumps(answer.body, separators=(",", ":")).encode()
            headers.setdefault("Content-Type", self.json_content_type)
        for name, value in self.vendor_headers(answer).items():
            headers.setdefault(name, value)
        self.send_response(answer.status, self.reasons.get(answer.status))
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence per-request stderr lines
        pass
