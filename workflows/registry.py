"""Every workflow the orchestrator worker serves (and the replayer checks)."""

from workflows.git_check import GitCheckWorkflow
from workflows.host_probe import HostProbeWorkflow

ALL_WORKFLOWS: list[type] = [HostProbeWorkflow, GitCheckWorkflow]
