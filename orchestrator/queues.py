"""Task-queue names and search-attribute keys: the one place they are spelled.

Import-light on purpose: workflows import this module inside the sandbox.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ORCHESTRATOR_QUEUE = "polygent.orchestrator"


def agent_queue(host_id: str) -> str:
    return f"polygent.agent.{host_id}"


def deploy_queue(host_id: str) -> str:
    return f"polygent.deploy.{host_id}"


SA_WORKSPACE = SearchAttributeKey.for_keyword("PolygentWorkspace")
SA_TICKET_KEY = SearchAttributeKey.for_keyword("PolygentTicketKey")
SA_STAGE = SearchAttributeKey.for_keyword("PolygentStage")
SA_PROVIDER = SearchAttributeKey.for_keyword("PolygentProvider")
SA_HOST = SearchAttributeKey.for_keyword("PolygentHost")

SEARCH_ATTRIBUTE_KEYS = (SA_WORKSPACE, SA_TICKET_KEY, SA_STAGE, SA_PROVIDER, SA_HOST)
SEARCH_ATTRIBUTES = tuple(k.name for k in SEARCH_ATTRIBUTE_KEYS)
