"""``leadscore emulator hubspot``: a seeded emulator in the foreground, for demos and manual runs."""

from __future__ import annotations

import threading

from leadscore.connectors.hubspot.emulator.core import HubSpotEmulator


def serve_forever(port: int, contacts: int, seed: int, accounts: bool = False) -> None:
    """Seed ``contacts`` contacts (and with ``accounts`` their companies), print the base URL and
    token, and serve until Ctrl-C."""
    emulator = HubSpotEmulator(port=port)
    emulator.start()
    try:
        ids = emulator.seed(contacts, seed=seed, accounts=accounts)
        companies = f" and {len(emulator.companies())} companies" if accounts else ""
        print(f"HubSpot emulator serving {len(ids)} contacts{companies} (seed {seed})", flush=True)
        print(f"base URL: {emulator.base_url}", flush=True)
        print(f"token:    {emulator.token}", flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
