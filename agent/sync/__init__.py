"""The sync agent: the pipeline (pull, score, diff, write, record), the jobs that run it under a
lease, and the agent that builds them from the config.

- :mod:`agent.sync.pipeline`: one connector's passes (sync, backfill, rescore, retry).
- :mod:`agent.sync.diff`: what to write - one pure function under one policy.
- :mod:`agent.sync.reconcile`: the owned fields read back from the CRM, drift rewritten.
- :mod:`agent.sync.jobs`: a pass as a logged run, under the connector's lease.
- :mod:`agent.sync.values`: a score turned into the values a connector writes.
- :mod:`agent.sync.models`: the champion and the live challenger, kept current with their files.
- :mod:`agent.sync.agent`: the store, models and jobs of one agent process.
"""

from leadscore.agent.sync.agent import Agent
from leadscore.agent.sync.models import ModelFiles, build_scorer
from leadscore.agent.sync.diff import DiffPolicy, plan_writes
from leadscore.agent.sync.jobs import JobOutcome
from leadscore.agent.sync.pipeline import RunCounts, SyncPipeline, write_plan_csv

__all__ = ["Agent", "DiffPolicy", "JobOutcome", "ModelFiles", "RunCounts", "SyncPipeline", "build_scorer", "plan_writes", "write_plan_csv"]
