"""The convergence soak (``make soak``): the randomised world of ``tests/convergence.py`` on a larger
CRM (2,000 records each for HubSpot and Salesforce) for ``SOAK_MINUTES`` (default 30, shared
between the two), checking after every quiescent sync that every live record holds exactly what
the engine computes from its data. Prints the operations run (by kind), records checked, wrong,
missed, writes over the floor, and the seed (``CONVERGENCE_SEED=N`` replays a schedule).

    python bench/soak.py [--minutes 30] [--records 2000] [--crm both|hubspot|salesforce] [--workdir DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# This folder holds bench/hubspot.py, which must not shadow the hubspot SDK package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from tests.convergence import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
