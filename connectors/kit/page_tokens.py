"""The guard every token-paged listing needs: a paging token followed twice is a loop.

Why here: HubSpot's ``paging.next.after`` and Salesforce's ``nextRecordsUrl`` are opaque tokens
the CRM hands back page after page. A CRM that answers one it already answered (a bug, a proxy
replaying a cached page) would keep a pull paging forever, moving nothing; each pull had its own
``followed`` set to stop that. This is that set, once, failing the pull with
:class:`~leadscore.agent.core.errors.StalledCursorError` so the cursor stays where it was.
"""

from __future__ import annotations

from leadscore.agent.core.errors import StalledCursorError


class PageTokens:
    """The tokens one listing has followed. ``stalled`` is the error's message, with ``{token}``
    standing for the token answered twice (``{token!r}`` to quote it)."""

    def __init__(self, stalled: str) -> None:
        self.stalled = stalled
        self._followed: set[str] = set()

    def follow(self, token: str | None) -> None:
        """Note ``token`` as followed; raise :class:`StalledCursorError` if it already was. No
        token (the last page) is nothing to follow."""
        if not token:
            return
        if token in self._followed:
            raise StalledCursorError(self.stalled.format(token=token))
        self._followed.add(token)
