"""``leadscore emulator salesforce``: a seeded emulator in the foreground, for demos and manual runs."""

from __future__ import annotations

import threading

from leadscore.connectors.salesforce.emulator.core import SalesforceEmulator


def serve_forever(port: int, contacts: int, seed: int, accounts: bool = False) -> None:
    """Seed ``contacts`` Leads (the keyword is shared by every emulator's CLI) - with ``accounts``,
    people at known companies as Contacts of seeded Accounts instead - print how to connect -
    instance URL, CA bundle, credentials - and serve until Ctrl-C."""
    emulator = SalesforceEmulator(port=port)
    emulator.start()
    try:
        ids = emulator.seed(contacts, seed=seed, accounts=accounts)
        credentials = emulator.credentials
        people = f"{len(ids)} people at {len(emulator.records('Account'))} accounts" if accounts else f"{len(ids)} leads"
        print(f"Salesforce emulator serving {people} (seed {seed})", flush=True)
        print(f"instance URL:  {emulator.instance_url}", flush=True)
        print(f"login URL:     {emulator.login_url}  (like a My Domain: JWTs name https://login.salesforce.com "
              "as their audience)", flush=True)
        print(f"CA bundle:     {emulator.ca_bundle}", flush=True)
        print(f"client id:     {credentials.client_id}", flush=True)
        print(f"client secret: {credentials.client_secret}", flush=True)
        print(f"username:      {credentials.username}", flush=True)
        print(f"password:      {credentials.password}", flush=True)
        print("private key (JWT bearer):", flush=True)
        print(credentials.private_key_pem.rstrip(), flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        _wait_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()


def _wait_forever() -> None:
    threading.Event().wait()
