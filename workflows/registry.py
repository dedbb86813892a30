"""Every workflow the orchestrator worker serves (and the replayer checks)."""

from workflows.git_check import GitCheckWorkflow
from workflows.host_call import HostCallWorkflow
from workflows.host_probe import HostProbeWorkflow
from workflows.session import SessionWorkflow
from workflows.ticket import TicketWorkflow
from workflows.ticket_sync import TicketItemWorkflow, TicketSyncWorkflow
from workflows.worktree_cleanup import WorktreeCleanupWorkflow

ALL_WORKFLOWS: list[type] = [
    HostProbeWorkflow,
    GitCheckWorkflow,
    WorktreeCleanupWorkflow,
    HostCallWorkflow,
    SessionWorkflow,
    TicketWorkflow,
    TicketSyncWorkflow,
    TicketItemWorkflow,
]
