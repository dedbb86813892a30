"""Ticket sync with GitHub Issues and Azure DevOps work items, against fakes speaking their
REST APIs, through the API, the orchestrator worker and Temporal (no session host: tickets
that get queued stay Queued).

The pipeline's own tests drive tickets through real stages; here a ticket's stage is set on
its row where only write-back is under test (sync reads the row).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from orchestrator.db import Database
from orchestrator.schedules import (
    reconcile_ticket_syncs,
    ticket_sync_schedule,
    ticket_sync_schedule_id,
)
from orchestrator.security.crypto import SecretBox
from orchestrator.tickets.models import Ticket
from orchestrator.tickets.sync_models import TicketSyncLink
from orchestrator.workspaces.models import Workspace
from orchestrator.workspaces.sealed import git_pat_aad
from tests.browser import chromium
from tests.fakes.azure_work_items import FakeAzureWorkItems, serve_azure_work_items
from tests.fakes.github_issues import FakeGitHubIssues, serve_github_issues
from tests.helpers import TEST_MASTER, wait_for
from tests.integration.stack import Stack, running_stack
from tests.integration.tickets_kit import bare_workspace, create, history, ticket

pytestmark = pytest.mark.tickets
PAT = "ghp_sync_test_token_0123456789"
BOX = SecretBox(TEST_MASTER)
ISSUES = r"/repos/acme/widgets/issues"
COMMENTS = r"/repos/acme/widgets/issues/\d+/comments"
WIT = r"/acme/Alpha/_apis/wit"


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHubIssues]:
    with serve_github_issues(PAT) as api:
        monkeypatch.setenv("POLYGENT_GITHUB_API_URL", api.base_url)
        yield api


@pytest.fixture
def azure() -> Iterator[FakeAzureWorkItems]:
    with serve_azure_work_items(PAT) as api:
        yield api


@contextlib.asynccontextmanager
async def stack_for(
    db: Database, env: WorkflowEnvironment, tmp: Path
) -> AsyncIterator[tuple[Stack, list[str]]]:
    """A running stack; the sync schedules of the workspaces listed go at the end."""
    made: list[str] = []
    async with running_stack(db, env.client, tmp / "stack") as stack:
        try:
            yield stack, made
        finally:
            for ws in made:
                with contextlib.suppress(RPCError):
                    await env.client.get_schedule_handle(ticket_sync_schedule_id(ws)).delete()


async def workspace(stack: Stack, made: list[str], tickets: dict[str, Any]) -> str:
    """A workspace with the PAT and these ticket settings, keys PT-n."""
    ws_id = await bare_workspace(stack, f"Sync {uuid.uuid4().hex[:8]}")
    made.append(ws_id)
    async with stack.state.db.session() as s:
        ws = await s.get(Workspace, ws_id)
        assert ws is not None
        ws.git_pat = BOX.encrypt(PAT, git_pat_aad(ws))
    r = await stack.http.patch(f"/api/workspaces/{ws_id}", json={"tickets": tickets})
    assert r.status_code == 200, r.text
    r = await stack.http.put(f"/api/workspaces/{ws_id}/tickets-config", json={"key_prefix": "PT"})
    assert r.status_code == 200, r.text
    return ws_id


async def sync(stack: Stack, ws_id: str) -> dict[str, Any]:
    r = await stack.http.post(f"/api/workspaces/{ws_id}/tickets/sync", timeout=120)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    assert data["errors"] == [], data
    return data


async def tickets_of(stack: Stack, ws_id: str) -> dict[str, dict[str, Any]]:
    """The workspace's tickets by external id."""
    r = await stack.http.get(f"/api/workspaces/{ws_id}/tickets", params={"limit": 200})
    assert r.status_code == 200, r.text
    return {t["external_id"] or t["key"]: t for t in r.json()["items"]}


async def set_stage(stack: Stack, tid: str, stage: str) -> None:
    async with stack.state.db.session() as s:
        row = await s.get(Ticket, tid)
        assert row is not None
        row.stage = stage


async def count(db: Database, ws_id: str) -> int:
    async with db.session() as s:
        n = await s.scalar(select(func.count()).select_from(Ticket)
                           .where(Ticket.workspace_id == ws_id))  # fmt: skip
        return int(n or 0)


def github_auth_ok(api: FakeGitHubIssues) -> None:
    assert api.requests
    for r in api.requests:
        assert r.headers["authorization"] == f"Bearer {PAT}"
        assert r.headers["accept"] == "application/vnd.github+json"
        assert r.headers["x-github-api-version"] == "2022-11-28"


GITHUB = {"source": "github", "owner": "acme", "repo": "widgets", "label_filters": ["agent"],
          "sync_enabled": True}  # fmt: skip


async def test_github_issues_with_the_labels_become_tickets_and_follow_their_issues(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, github: FakeGitHubIssues
) -> None:
    one = github.add("Fix the login", "It fails.\nAlways.", ["agent", "bug"])
    github.add("Not for agents", labels=["bug"])
    github.add("A pull request", labels=["agent"], pull_request=True)
    github.add("Done long ago", labels=["agent"], state="closed")
    five = github.add("Urgent", labels=["agent", "priority: high"])
    rules = [{"label": "fast", "provider": "polygent-code", "model": "gpt-5"},
             {"label": "later", "provider": "codex", "queue": False}]  # fmt: skip
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, {**GITHUB, "auto_start": rules})
        report = await sync(stack, ws)
        assert sorted(report["created"]) == ["PT-1", "PT-2"] and report["source"] == "github"
        got = await tickets_of(stack, ws)
        assert set(got) == {str(one), str(five)}
        t1 = got[str(one)]
        assert (t1["title"], t1["description"], t1["source"]) == (
            "Fix the login", "It fails.\nAlways.", "github")  # fmt: skip
        assert t1["tags"] == ["agent", "bug"] and t1["priority"] == "normal"
        assert t1["stage"] == "pending" and got[str(five)]["priority"] == "high"
        listed = github.seen("GET", ISSUES)[0].query
        assert listed == {"state": "all", "labels": "agent", "per_page": "100", "page": "1"}

        # A re-run creates nothing; an issue added later appears, queued by its rule.
        again = await sync(stack, ws)
        assert again["created"] == [] and await count(db, ws) == 2
        six = github.add("Quick one", "Do it now.", ["agent", "fast"])
        later = await sync(stack, ws)
        assert later["created"] == ["PT-3"]
        t6 = await ticket(stack, (await tickets_of(stack, ws))[str(six)]["id"])
        assert (t6["stage"], t6["provider"], t6["model"]) == ("queued", "polygent-code", "gpt-5")
        queued = (await history(stack, t6["id"]))["transitions"][-1]
        assert (queued["actor_type"], queued["actor_name"]) == ("system", "sync")

        # A rule naming a provider that is turned off is reported; the issue waits.
        seven = github.add("Needs codex", labels=["agent", "later"])
        r = await stack.http.post(f"/api/workspaces/{ws}/tickets/sync", timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["errors"] == [
            f"Issue #{seven}: provider: Codex is turned off in the provider settings."
        ]
        assert await count(db, ws) == 3
        github.delete(seven)

        # Pending tickets follow their issue's words; closed or deleted issues cancel them.
        github.edit(one, title="Fix the login page", body="Now with steps.")
        github.set_labels(one, ["agent", "ui"])
        assert (await sync(stack, ws))["updated"] == ["PT-1"]
        t1 = await ticket(stack, t1["id"])
        assert (t1["title"], t1["description"], t1["tags"]) == (
            "Fix the login page", "Now with steps.", ["agent", "ui"])  # fmt: skip
        github.close(one)
        github.delete(five)
        github.close(six)
        report = await sync(stack, ws)
        assert sorted(report["canceled"]) == ["PT-1", "PT-2", "PT-3"]
        for ext in (one, five, six):
            t = (await tickets_of(stack, ws))[str(ext)]
            assert t["stage"] == "canceled", t
            last = (await history(stack, t["id"]))["transitions"][-1]
            assert (last["to_stage"], last["actor_name"]) == ("canceled", "sync")
        assert github.seen("GET", rf"{ISSUES}/{five}")  # read one by one: 410, deleted
        assert (await sync(stack, ws))["canceled"] == []
        github_auth_ok(github)


async def test_github_write_back_comments_and_closes_once_even_when_a_run_is_retried(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, github: FakeGitHubIssues
) -> None:
    one = github.add("Write back", labels=["agent"])
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, {**GITHUB, "write_back": True})
        await sync(stack, ws)
        tid = (await tickets_of(stack, ws))[str(one)]["id"]
        assert (await sync(stack, ws))["written_back"] == []  # Pending: nothing to say

        await set_stage(stack, tid, "implementation")
        assert (await sync(stack, ws))["written_back"] == ["PT-1"]
        [started] = github.issue(one).comments
        assert "PT-1 has started" in started["body"] and f"polygent-ticket:{tid}" in started["body"]
        await set_stage(stack, tid, "dev_approval")  # still "started": nothing new
        assert (await sync(stack, ws))["written_back"] == []

        # The run fails after creating a ticket (the comment answers 502); Temporal retries
        # it: no second ticket, one comment, one close.
        two = github.add("Arrives meanwhile", labels=["agent"])
        await set_stage(stack, tid, "completed")
        github.fail_next("POST", COMMENTS, 502)
        await sync(stack, ws)
        assert await count(db, ws) == 2
        assert set(await tickets_of(stack, ws)) == {str(one), str(two)}
        comments = [c["body"] for c in github.issue(one).comments]
        assert len(comments) == 2 and "PT-1 is completed." in comments[1]
        assert len(github.seen("POST", COMMENTS)) == 3  # the 502, then the one that counted
        assert len(github.seen("PATCH", rf"{ISSUES}/{one}")) == 1
        issue = github.issue(one)
        assert (issue.state, issue.state_reason) == ("closed", "completed")
        assert (await sync(stack, ws))["written_back"] == []
        assert len(github.issue(one).comments) == 2
        async with db.session() as s:
            link = await s.get(TicketSyncLink, tid)
            assert link is not None and (link.written_stage, link.written) == (
                "completed", "completed")  # fmt: skip
        github_auth_ok(github)


async def test_a_synced_ticket_committed_without_its_workflow_is_started_next_run(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, github: FakeGitHubIssues
) -> None:
    one = github.add("Half made", labels=["agent", "fast"])
    rules = [{"label": "fast", "provider": "polygent-code"}]
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, {**GITHUB, "auto_start": rules})
        # What a run leaves when it stops between the commit and the workflow's start.
        async with db.session() as s:
            row = Ticket(workspace_id=ws, number=1, key="PT-1", title="Half made",
                         source="github", external_id=str(one), provider="polygent-code",
                         tags=["agent", "fast"])  # fmt: skip
            s.add(row)
            await s.flush()
            row.workflow_id = f"ticket-{row.id}"
            tid = row.id
        report = await sync(stack, ws)
        assert (report["created"], report["started"]) == ([], ["PT-1"])
        t = await ticket(stack, tid)
        assert t["stage"] == "queued"
        desc = await temporal_env.client.get_workflow_handle(f"ticket-{tid}").describe()
        assert desc.workflow_type == "TicketWorkflow"
        again = await sync(stack, ws)
        assert again["started"] == [] and await count(db, ws) == 1


async def test_create_github_issue_links_the_ticket_once_even_after_a_lost_answer(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, github: FakeGitHubIssues
) -> None:
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, {**GITHUB, "sync_enabled": False})
        tid = (await create(stack, ws, title="From Polygent", description="Details.",
                            tags=["ui"], priority="high"))["id"]  # fmt: skip
        github.fail_after("POST", ISSUES, 502)  # stored, but the answer is lost
        r = await stack.http.post(f"/api/tickets/{tid}/github-issue", timeout=120)
        assert r.status_code == 200, r.text
        link = r.json()
        assert link["created"] is True and link["source"] == "github"
        [issue] = [i for i in github.issues if not i.pull_request]
        assert link["external_id"] == str(issue.number)
        assert link["url"] == f"https://github.test/acme/widgets/issues/{issue.number}"
        assert (issue.title, issue.labels) == ("From Polygent", ["ui", "priority: high"])
        assert issue.body.startswith("Details.") and f"polygent-ticket:{tid}" in issue.body
        assert len(github.seen("POST", ISSUES)) == 1
        r = await stack.http.post(f"/api/tickets/{tid}/github-issue")
        assert r.status_code == 200 and r.json() == {**link, "created": False}, r.text
        t = await ticket(stack, tid)
        assert (t["source"], t["external_id"]) == ("github", str(issue.number))
        r = await stack.http.post(f"/api/tickets/{tid}/tfs-bug")
        assert r.status_code == 409 and "linked to GitHub" in r.json()["detail"], r.text
        # Sync is off for this workspace: on demand it is refused, and there is no schedule.
        r = await stack.http.post(f"/api/workspaces/{ws}/tickets/sync")
        assert r.status_code == 409 and "not enabled" in r.json()["detail"], r.text
        github_auth_ok(github)


async def _interval(env: WorkflowEnvironment, ws: str) -> timedelta | None:
    try:
        desc = await env.client.get_schedule_handle(ticket_sync_schedule_id(ws)).describe()
    except RPCError as exc:
        assert exc.status == RPCStatusCode.NOT_FOUND
        return None
    action = desc.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.id) == ("TicketSyncWorkflow", f"ticket-sync-{ws}")
    return desc.schedule.spec.intervals[0].every


async def test_the_sync_schedule_follows_the_ticket_settings_and_start_up_reconciles_it(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, {**GITHUB, "sync_interval_minutes": 7})
        assert await _interval(temporal_env, ws) == timedelta(minutes=7)
        r = await stack.http.patch(
            f"/api/workspaces/{ws}", json={"tickets": {**GITHUB, "sync_interval_minutes": 30}}
        )
        assert r.status_code == 200, r.text
        assert await _interval(temporal_env, ws) == timedelta(minutes=30)
        r = await stack.http.patch(
            f"/api/workspaces/{ws}", json={"tickets": {**GITHUB, "sync_enabled": False}}
        )
        assert r.status_code == 200, r.text
        assert await _interval(temporal_env, ws) is None
        for bad, field in (({"sync_interval_minutes": 0}, "sync_interval_minutes"),
                           ({"auto_start": [{"label": "x", "provider": "nope"}]}, "provider"),
                           ({"extra": 1}, "extra")):  # fmt: skip
            r = await stack.http.patch(f"/api/workspaces/{ws}", json={"tickets": {**GITHUB, **bad}})
            assert r.status_code == 422 and field in r.text, r.text

        # Start-up: a missing schedule is made, one for a workspace that no longer syncs goes.
        other = await workspace(stack, made, {**GITHUB, "sync_enabled": False})
        async with db.session() as s:
            row = await s.get(Workspace, ws)
            assert row is not None
            row.ticket_settings = {**row.ticket_settings, "sync_enabled": True}
        await temporal_env.client.create_schedule(
            ticket_sync_schedule_id(other), ticket_sync_schedule(other, 5)
        )
        await reconcile_ticket_syncs(temporal_env.client, db)  # what ensure_schedules runs
        assert await _interval(temporal_env, ws) == timedelta(minutes=15)
        assert await _interval(temporal_env, other) is None
        # Deleting the workspace removes its schedule.
        r = await stack.http.delete(f"/api/workspaces/{ws}")
        assert r.status_code == 204, r.text
        assert await _interval(temporal_env, ws) is None


TFS_BASE = {"source": "tfs", "project": "Alpha", "area_path": "Alpha\\Web", "tags": ["agent"],
            "sync_enabled": True}  # fmt: skip


async def test_azure_devops_bugs_sync_both_ways(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, azure: FakeAzureWorkItems
) -> None:
    one = azure.add_bug("Crash on save", tags=["agent", "ui"], area_path="Alpha\\Web\\Editor",
                        priority=1, steps="<div>Open a file<br>Save it</div>")  # fmt: skip
    azure.add_bug("Elsewhere", tags=["agent"], area_path="Alpha\\Other")
    azure.add_bug("Untagged", tags=["other"], area_path="Alpha\\Web")
    azure.add_bug("Closed already", tags=["agent"], area_path="Alpha\\Web", state="Closed")
    azure.add_bug("A task", tags=["agent"], area_path="Alpha\\Web", kind="Task")
    tfs = {**TFS_BASE, "organization_url": azure.organization_url, "write_back": True}
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, tfs)
        report = await sync(stack, ws)
        assert report["created"] == ["PT-1"] and report["source"] == "tfs"
        [query] = azure.queries
        assert "[System.WorkItemType] = 'Bug'" in query
        assert "[System.AreaPath] UNDER 'Alpha\\Web'" in query
        assert "[System.Tags] CONTAINS 'agent'" in query
        batch = azure.seen("GET", rf"{WIT}/workitems")[0].query
        assert batch["errorPolicy"] == "Omit" and batch["api-version"] == "7.1"
        t1 = (await tickets_of(stack, ws))[str(one)]
        assert (t1["title"], t1["description"], t1["priority"], t1["tags"]) == (
            "Crash on save", "Open a file\nSave it", "high", ["agent", "ui"])  # fmt: skip

        # Outbound: the status map (implementation → Active, completed → Resolved), once.
        await set_stage(stack, t1["id"], "implementation")
        assert (await sync(stack, ws))["written_back"] == ["PT-1"]
        assert azure.item(one).fields["System.State"] == "Active"
        await set_stage(stack, t1["id"], "dev_approval")
        assert (await sync(stack, ws))["written_back"] == []
        await set_stage(stack, t1["id"], "completed")
        assert (await sync(stack, ws))["written_back"] == ["PT-1"]
        assert azure.item(one).fields["System.State"] == "Resolved"
        patches = azure.seen("PATCH", rf"{WIT}/workitems/{one}")
        assert len(patches) == 2
        assert patches[0].headers["content-type"].startswith("application/json-patch+json")
        assert patches[0].body == [{"op": "add", "path": "/fields/System.State",
                                    "value": "Active"}]  # fmt: skip

        # Inbound: Resolved (or Closed, Removed) and deleted items cancel not-started tickets.
        two = azure.add_bug("Resolve me", tags=["agent"], area_path="Alpha\\Web")
        three = azure.add_bug("Delete me", tags=["agent"], area_path="Alpha\\Web")
        assert (await sync(stack, ws))["created"] == ["PT-2", "PT-3"]
        azure.set_state(two, "Resolved")
        azure.delete(three)
        assert sorted((await sync(stack, ws))["canceled"]) == ["PT-2", "PT-3"]
        got = await tickets_of(stack, ws)
        assert got[str(two)]["stage"] == got[str(three)]["stage"] == "canceled"
        for r in azure.requests:
            assert r.headers["authorization"].startswith("Basic ")


async def test_create_tfs_bug_sets_the_default_fields_and_links_once(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, azure: FakeAzureWorkItems
) -> None:
    tfs = {**TFS_BASE, "organization_url": azure.organization_url, "sync_enabled": False,
           "default_fields": {"Microsoft.VSTS.Common.Severity": "2 - High",
                              "Custom.Team": "Web"}}  # fmt: skip
    async with stack_for(db, temporal_env, tmp_path) as (stack, made):
        ws = await workspace(stack, made, tfs)
        tid = (await create(stack, ws, title="It's broken", description="Line 1\nLine <2>",
                            tags=["ui"], priority="low"))["id"]  # fmt: skip
        azure.fail_after("POST", rf"{WIT}/workitems/(?:\$|%24)Bug", 502)
        r = await stack.http.post(f"/api/tickets/{tid}/tfs-bug", timeout=120)
        assert r.status_code == 200, r.text
        link = r.json()
        [bug] = azure.items
        assert link == {"ticket_id": tid, "source": "tfs", "external_id": str(bug.id),
                        "url": f"{azure.organization_url}/Alpha/_workitems/edit/{bug.id}",
                        "created": True}  # fmt: skip
        f = bug.fields
        assert (f["System.Title"], f["System.AreaPath"], f["System.Tags"]) == (
            "It's broken", "Alpha\\Web", "agent; ui")  # fmt: skip
        assert (f["Microsoft.VSTS.Common.Severity"], f["Custom.Team"]) == ("2 - High", "Web")
        assert f["Microsoft.VSTS.Common.Priority"] == 3
        assert "Line 1<br>Line &lt;2&gt;" in f["Microsoft.VSTS.TCM.ReproSteps"]
        assert f"polygent-ticket:{tid}" in f["Microsoft.VSTS.TCM.ReproSteps"]
        assert any("[System.Title] = 'It''s broken'" in q for q in azure.queries)
        r = await stack.http.post(f"/api/tickets/{tid}/tfs-bug")
        assert r.status_code == 200 and r.json() == {**link, "created": False}, r.text
        assert len(azure.items) == 1
        # Refusals come back naming the cause: a workspace set up for another source.
        other = (await create(stack, ws, title="Other"))["id"]
        r = await stack.http.post(f"/api/tickets/{other}/github-issue")
        assert r.status_code == 409 and "not set up for GitHub" in r.json()["detail"], r.text


async def test_create_github_issue_from_the_ticket_page(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, github: FakeGitHubIssues
) -> None:
    """The ticket page offers the action of the workspace's source, then links the item."""
    async with stack_for(db, temporal_env, tmp_path) as (stack, made), chromium() as browser:
        ws = await workspace(stack, made, {**GITHUB, "sync_enabled": False})
        tid = (await create(stack, ws, title="From the page"))["id"]
        token = str(stack.http.headers["Authorization"]).split()[1]
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        await context.add_cookies([{"name": "polygent_at", "value": token, "url": stack.url}])
        page = await context.new_page()
        await page.goto(f"{stack.url}/tickets/{tid}")
        await expect(page.get_by_role("button", name="Create TFS Bug")).to_have_count(0)
        await page.get_by_role("button", name="Create GitHub Issue").click()
        [issue] = await wait_for(lambda: [i for i in github.issues if not i.pull_request] or None,
                                 timeout=60, what="the issue")  # fmt: skip
        item = page.locator("[data-field=item]")
        await expect(item).to_have_text(f"GitHub issue {issue.number}", timeout=30_000)
        link = f"https://github.test/acme/widgets/issues/{issue.number}"
        await expect(item.locator("a")).to_have_attribute("href", link)
        await expect(page.get_by_role("button", name="Create GitHub Issue")).to_have_count(0)
