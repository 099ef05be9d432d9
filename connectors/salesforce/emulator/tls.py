"""Real TLS for the emulator: a locally generated test CA (``trustme``) and a certificate for
``localhost`` / ``127.0.0.1`` / ``::1``.

simple-salesforce only ever builds ``https://`` URLs, so the emulator must speak TLS, and
clients must trust its CA rather than turn verification off. One CA per process: generating
keys is the slow part of starting an emulator, and every emulator in a test run can share it.
The CA bundle is a PEM file in a temporary directory removed at interpreter exit.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import ssl
import tempfile
from typing import Any

import requests


@functools.lru_cache(maxsize=1)
def _authority() -> tuple[Any, Any, str]:
    import trustme

    ca = trustme.CA(organization_name="leadscore emulator", organization_unit_name="test CA")
    leaf = ca.issue_cert("localhost", "127.0.0.1", "::1")
    directory = tempfile.mkdtemp(prefix="leadscore-salesforce-ca-")
    path = os.path.join(directory, "ca.pem")
    ca.cert_pem.write_to_path(path)
    atexit.register(shutil.rmtree, directory, True)
    return ca, leaf, path


def ca_bundle() -> str:
    """Path of the test CA's certificate (PEM), for ``requests``' ``verify=``."""
    return _authority()[2]


def server_context() -> ssl.SSLContext:
    _, leaf, _ = _authority()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


class _TimeoutSession(requests.Session):
    """A session that applies a default timeout and really verifies against its own CA bundle.

    ``requests`` has no default timeout, and neither does simple-salesforce, so a stuck server
    would otherwise hang a client forever. And ``requests`` lets ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE`` override a session's ``verify`` (environment settings are merged as if
    given per request), so the bundle is passed per request, where it wins."""

    def __init__(self, timeout: float | tuple[float, float]) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


def requests_session_trusting(ca_bundle_path: str, timeout: float | tuple[float, float] = (5.0, 30.0)) -> requests.Session:
    """A ``requests.Session`` that verifies TLS against ``ca_bundle_path`` and times out."""
    session = _TimeoutSession(timeout)
    session.verify = ca_bundle_path
    return session
