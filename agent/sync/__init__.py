"""The sync agent: the pipeline (pull, score, diff, write, record), the jobs that run it under a
lease, and the agent that builds them from the config.

- :mod:`agent.sync.pipeline`: one connector's passes (sync, backfill, rescore, retry).
- :mod:`agent.sync.jobs`: a pass as a logged run, under the connector's lease.
- :mod:`agent.sync.values`: a score turned into the values a connector writes.
- :mod:`agent.sync.agent`: the store, scorer and jobs of one agent process.
"""

from agent.sync.agent import Agent, build_scorer
from agent.sync.jobs import JobOutcome
from agent.sync.pipeline import PlannedChange, RunCounts, SyncPipeline, write_plan_csv

__all__ = ["Agent", "JobOutcome", "PlannedChange", "RunCounts", "SyncPipeline", "build_scorer", "write_plan_csv"]
