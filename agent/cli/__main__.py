"""``python -m leadscore.agent.cli``: the ``leadscore`` command."""

from leadscore.agent.cli import main

main()
