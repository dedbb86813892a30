"""Tickets in Pull Request mode on GitHub and Azure DevOps, against fakes speaking their REST
APIs: the whole pipeline (API, orchestrator worker, a session agent running the real Claude
Code CLI against the fake Anthropic server, a real git remote) opens exactly one pull request
and tracks it to Completed, Failed or Merge Conflicts; a lost answer to the create is retried
without a second pull request. The providers' own refusals are checked directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from orchestrator.contracts.tickets import (
    PullRequestResult,
    PullRequestStatus,
    PullRequestStatusInput,
    ReleaseInput,
    TicketFlow,
    TicketState,
    TransitionInput,
    TransitionResult,
)
from orchestrator.db import Database
from orchestrator.queues import ORCHESTRATOR_QUEUE
from orchestrator.tickets.azure_devops import AzureDevOpsPullRequests
from orchestrator.tickets.github import GitHubPullRequests
from orchestrator.tickets.pr_common import (
    PullRequestRefused,
    PullRequestRequest,
    PullRequestUnavailable,
)
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.azure_devops import serve_azure_devops
from tests.fakes.github import FakeGitHub, serve_github
from tests.fakes.rest import Request
from tests.helpers import wait_for
from tests.integration.sessions_kit import (
    PAT,
    Remote,
    add_agent,
    add_workspace,
    fake_anthropic,
    git_remote,
    session,
)
from tests.integration.stack import Stack, running_stack
from tests.integration.test_tickets_pipeline import git
from tests.integration.tickets_kit import create, history, stages_of, ticket_agent, wait_stage
from workflows.ticket import TicketWorkflow

pytestmark = pytest.mark.tickets
PULLS = r"/repos/acme/widgets/pulls"
ADO_PULLS = r"/acme/Alpha/_apis/git/repositories/widgets/pullrequests"
QUICK = {"force_no_dev": True, "force_no_qa": True, "queue": True}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    with fake_anthropic(monkeypatch) as server:
        ticket_agent(server)
        yield server


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    with git_remote(tmp_path / "remote") as r:
        yield r


@pytest.fixture
def github(remote: Remote, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """The fake GitHub knows acme/widgets, whose branches are the git remote's; the worker
    (settings from the environment) asks it every half second."""

    def exists(branch: str) -> bool:
        try:
            git(remote.bare, "rev-parse", "--verify", f"refs/heads/{branch}")
        except Exception:
            return False
        return True

    with serve_github(PAT, branch_exists=exists) as api:
        monkeypatch.setenv("POLYGENT_GITHUB_API_URL", api.base_url)
        monkeypatch.setenv("POLYGENT_TICKET_PR_POLL_SECONDS", "0.5")
        yield api


async def _workspace(stack: Stack, remote: Remote, tickets: dict[str, Any]) -> str:
    ws = await add_workspace(stack.state.db, remote)
    r = await stack.http.patch(f"/api/workspaces/{ws}", json={"tickets": tickets})
    assert r.status_code == 200, r.text
    r = await stack.http.put(f"/api/workspaces/{ws}/tickets-config", json={"key_prefix": "PT"})
    assert r.status_code == 200, r.text
    return ws


async def _in_pull_request(stack: Stack, tid: str) -> dict[str, Any]:
    t = await wait_stage(stack, tid, "pull_request", timeout=90)
    assert t["pr_url"], t
    return t


def _number(url: str) -> int:
    return int(url.rstrip("/").rsplit("/", 1)[1])


def _auth_ok(reqs: list[Request]) -> None:
    for r in reqs:
        assert r.headers["authorization"] == f"Bearer {PAT}"
        assert r.headers["accept"] == "application/vnd.github+json"
        assert r.headers["x-github-api-version"] == "2022-11-28"


async def test_github_pull_request_is_opened_once_and_completes_when_merged(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote, github: FakeGitHub,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws = await _workspace(stack, remote, {"source": "github", "owner": "acme",
                                              "repo": "widgets"})  # fmt: skip
        tid = (await create(stack, ws, title="Add the greeting",
                            description="Write the file.", **QUICK))["id"]  # fmt: skip
        t = await _in_pull_request(stack, tid)
        branch = (await session(stack, t["session_id"]))["branch"]

        [pr] = github.all_pulls()
        assert (pr.head, pr.base, pr.title) == (branch, "main", "PT-1: Add the greeting")
        assert pr.body.startswith("**PT-1: Add the greeting**\n\nWrite the file.")
        assert "## Summary" in pr.body and "Written." in pr.body
        assert t["pr_url"] == f"https://github.test/acme/widgets/pull/{pr.number}"
        assert git(remote.bare, "show", f"{branch}:PT-1.txt") == "PT-1"
        assert len(github.seen("POST", PULLS)) == 1
        _auth_ok(github.requests)

        # Tracked: still open after a few polls, then merged by someone on GitHub.
        await _polled(github, pr.number, 2)
        assert (await wait_stage(stack, tid, "pull_request"))["stage"] == "pull_request"
        github.merge(pr.number)
        t = await wait_stage(stack, tid, "completed")
        hist = await history(stack, tid)
        assert stages_of(hist) == ["queued", "implementation", "pull_request", "completed"]
        assert hist["transitions"][-1]["actor_type"] == "system"
        assert "was merged" in hist["transitions"][-1]["note"]
        assert all(PAT not in x["note"] for x in hist["transitions"])
        assert len(github.all_pulls()) == 1


async def _polled(api: FakeGitHub, number: int, times: int) -> None:
    async def check() -> bool:
        return len(api.seen("GET", f"{PULLS}/{number}")) >= times

    await wait_for(check, timeout=60, what=f"{times} polls of #{number}")


async def test_github_conflicts_and_a_closed_pull_request(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote, github: FakeGitHub,
) -> None:  # fmt: skip
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        host = await add_agent(stack)
        r = await stack.http.patch(f"/api/hosts/{host}", json={"max_concurrent_tickets": 3})
        assert r.status_code == 200, r.text
        ws = await _workspace(stack, remote, {"source": "github", "owner": "acme",
                                              "repo": "widgets"})  # fmt: skip
        # A repository the token cannot see (GitHub says 404): the ticket fails, clearly.
        hidden = await _workspace(stack, remote, {"source": "github", "owner": "acme",
                                                  "repo": "hidden"})  # fmt: skip
        clash = (await create(stack, ws, title="Clash", **QUICK))["id"]
        shut = (await create(stack, ws, title="Shut", **QUICK))["id"]
        lost = (await create(stack, hidden, title="Lost", **QUICK))["id"]
        numbers = {}
        for tid in (clash, shut):
            numbers[tid] = _number((await _in_pull_request(stack, tid))["pr_url"])
        github.conflict(numbers[clash])
        github.close(numbers[shut])
        t = await wait_stage(stack, clash, "merge_conflicts")
        assert "has conflicts" in t["failure"] and "main" in t["failure"]
        t = await wait_stage(stack, shut, "failed")
        assert "closed unmerged" in t["failure"]
        t = await wait_stage(stack, lost, "failed")
        assert t["failure"].startswith("The pull request could not be opened: GitHub found no")
        assert "404" in t["failure"] and PAT not in t["failure"]
        assert len(github.all_pulls()) == 2


async def test_a_lost_create_answer_is_retried_without_a_second_pull_request(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote, github: FakeGitHub,
) -> None:  # fmt: skip
    github.fail_after("POST", PULLS, 502)  # stored, then answered 502
    async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
        await add_agent(stack)
        ws = await _workspace(stack, remote, {"source": "github", "owner": "acme",
                                              "repo": "widgets"})  # fmt: skip
        tid = (await create(stack, ws, title="Retry", **QUICK))["id"]
        t = await _in_pull_request(stack, tid)
        [pr] = github.all_pulls()
        assert t["pr_url"].endswith(f"/pull/{pr.number}")
        assert len(github.seen("POST", PULLS)) == 1  # the retry found it instead
        assert len(github.seen("GET", PULLS)) == 2
        # The manual update still ends the wait (an override of the provider).
        r = await stack.http.post(f"/api/tickets/{tid}/pr-merged")
        assert r.status_code == 200, r.text
        t = await wait_stage(stack, tid, "completed")
        last = (await history(stack, tid))["transitions"][-1]
        assert last["actor_type"] == "user" and last["note"] == "The pull request was merged."


async def test_azure_devops_pull_request_is_opened_and_tracked_to_completed(
    db: Database, temporal_env: WorkflowEnvironment, tmp_path: Path, fake: FakeAnthropic,
    remote: Remote, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("POLYGENT_TICKET_PR_POLL_SECONDS", "0.5")
    with serve_azure_devops(PAT, repos=[("Alpha", "widgets")]) as ado:
        ado.fail_next("POST", ADO_PULLS, 503)  # a passing failure: retried
        async with running_stack(db, temporal_env.client, tmp_path / "stack") as stack:
            await add_agent(stack)
            ws = await _workspace(stack, remote, {
                "source": "tfs", "organization_url": ado.organization_url, "project": "Alpha",
                "repository": "widgets",
            })  # fmt: skip
            tid = (await create(stack, ws, title="Ship it", description="Do.", **QUICK))["id"]
            t = await _in_pull_request(stack, tid)
            branch = (await session(stack, t["session_id"]))["branch"]
            [pr] = ado.prs
            assert (pr.source, pr.target) == (f"refs/heads/{branch}", "refs/heads/main")
            assert pr.title == "PT-1: Ship it" and pr.description.startswith("**PT-1: Ship it**")
            assert t["pr_url"] == f"{ado.organization_url}/Alpha/_git/widgets/pullrequest/1"
            assert len(ado.seen("POST", ADO_PULLS)) == 2
            assert all(r.query.get("api-version") == "7.1" for r in ado.requests)
            ado.complete(pr.id)
            await wait_stage(stack, tid, "completed")
            assert len(ado.prs) == 1


# -- the providers on their own ----------------------------------------------------------------


def _req(branch: str = "feature/x") -> PullRequestRequest:
    return PullRequestRequest(
        workspace_id="w", git_url="https://git.invalid/r.git", branch=branch,
        base_branch="main", title="PT-9: T", body="B",
    )  # fmt: skip


async def test_github_provider_is_idempotent_and_maps_failures() -> None:
    with serve_github(PAT) as api:
        gh = GitHubPullRequests(api.base_url, "acme", "widgets", PAT)
        first = await gh.open(_req())
        assert first == PullRequestResult(url="https://github.test/acme/widgets/pull/1",
                                          number=1, provider="github")  # fmt: skip
        assert await gh.open(_req()) == first  # found, not opened again
        assert (await gh.status(1)).state == "open"
        api.conflict(1)
        assert (await gh.status(1)).state == "conflicts"
        api.merge(1)
        assert (await gh.status(1)).state == "merged"
        # A closed one belongs to an earlier round: pushing again opens a new one.
        second = await gh.open(_req("feature/y"))
        api.close(second.number or 0)
        assert (await gh.status(second.number or 0)).state == "closed"
        assert (await gh.open(_req("feature/y"))).number == 3

        with pytest.raises(PullRequestRefused, match="did not accept the workspace's git token"):
            await GitHubPullRequests(api.base_url, "acme", "widgets", "ghp_wrong_token").open(
                _req()
            )
        with pytest.raises(PullRequestRefused, match=r"404.*ticket settings"):
            await GitHubPullRequests(api.base_url, "acme", "nope", PAT).status(1)
        api.fail_next("GET", f"{PULLS}/1", 503)
        with pytest.raises(PullRequestUnavailable, match="503"):
            await gh.status(1)
        forbidden = {"message": "Resource not accessible by personal access token"}
        api.fail_next("GET", f"{PULLS}/1", 403, forbidden)
        with pytest.raises(PullRequestRefused, match=r"may not read pull request #1.*403"):
            await gh.status(1)
        assert all(PAT not in str(r.body) for r in api.requests)


async def test_azure_devops_provider_is_idempotent_and_maps_failures() -> None:
    with serve_azure_devops(PAT, repos=[("My Project", "My Project")]) as api:
        ado = AzureDevOpsPullRequests(api.organization_url, "My Project", "My Project", PAT)
        first = await ado.open(_req())
        assert first.number == 1 and first.provider == "tfs"
        assert first.url == f"{api.organization_url}/My%20Project/_git/My%20Project/pullrequest/1"
        api.fail_after("POST", r".*/pullrequests", 502)
        with pytest.raises(PullRequestUnavailable):
            await ado.open(_req("feature/z"))
        assert (await ado.open(_req("feature/z"))).number == 2  # the retry finds it
        assert len(api.prs) == 2
        api.conflict(1)
        assert (await ado.status(1)).state == "conflicts"
        api.abandon(1)
        assert (await ado.status(1)).state == "closed"
        api.complete(2)
        assert (await ado.status(2)).state == "merged"
        with pytest.raises(PullRequestRefused, match="did not accept"):
            await AzureDevOpsPullRequests(api.organization_url, "My Project", "My Project",
                                          "bad-token-123456").status(1)  # fmt: skip
        with pytest.raises(PullRequestRefused, match="404"):
            await AzureDevOpsPullRequests(api.organization_url, "Other", "Other", PAT).status(1)


# -- the wait in Pull Request, under time skipping ---------------------------------------------


async def _track(env: WorkflowEnvironment, answers: list[str]) -> tuple[str, list[Any]]:
    """A ticket that waits in Pull Request (as a run continued as new does) while the stubbed
    provider answers `answers` in turn, one per attempt ("down": a passing failure, "refused":
    a refusal); the stage changes it wrote."""
    polls: list[PullRequestStatusInput] = []
    moves: list[TransitionInput] = []

    @activity.defn(name="tickets.pull_request_status")
    async def status(inp: PullRequestStatusInput) -> PullRequestStatus:
        polls.append(inp)
        answer = answers[min(len(polls), len(answers)) - 1]
        if answer == "down":
            raise RuntimeError("GitHub answered 502.")
        if answer == "refused":
            raise ApplicationError("GitHub did not accept the token.", type="PullRequestRefused",
                                   non_retryable=True)  # fmt: skip
        return PullRequestStatus(state=answer, detail="#7 has conflicts with main.")  # type: ignore[arg-type]

    @activity.defn(name="tickets.transition")
    async def transition(inp: TransitionInput) -> TransitionResult:
        moves.append(inp)
        return TransitionResult(stage=inp.to_stage)

    @activity.defn(name="tickets.release")
    async def release(inp: ReleaseInput) -> list[str]:
        return []

    pr = PullRequestResult(url="https://github.test/acme/widgets/pull/7", number=7,
                           provider="github")  # fmt: skip
    state = TicketState(
        ticket_id="t1", workspace_id="w1", key="PT-1", stage="pull_request", seq=3,
        host_id="h1", session_id="s1", flow=TicketFlow(pr_poll_seconds=3600), published=True,
        pull_request=pr,
    )  # fmt: skip
    wid = f"ticket-pr-{'-'.join(answers)}"
    async with Worker(env.client, task_queue=ORCHESTRATOR_QUEUE, workflows=[TicketWorkflow],
                      activities=[status, transition, release]):  # fmt: skip
        stage = await env.client.execute_workflow(
            TicketWorkflow.run, state, id=wid, task_queue=ORCHESTRATOR_QUEUE
        )
    assert all(p.number == 7 and p.provider == "github" for p in polls)
    assert len(polls) == len(answers)
    return stage, moves


async def test_an_open_pull_request_is_polled_hourly_until_it_is_decided(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    stage, moves = await _track(time_skipping_env, ["open", "open", "open", "merged"])
    assert stage == "completed" and [m.to_stage for m in moves] == ["completed"]
    assert moves[0].note == "The pull request https://github.test/acme/widgets/pull/7 was merged."
    assert moves[0].seq == 4 and moves[0].actor.actor_type == "system"

    stage, moves = await _track(time_skipping_env, ["open", "conflicts"])
    assert stage == "merge_conflicts"
    assert moves[0].failure == (
        "The pull request https://github.test/acme/widgets/pull/7 has conflicts. "
        "#7 has conflicts with main."
    )
    stage, moves = await _track(time_skipping_env, ["closed"])
    assert stage == "failed" and "closed unmerged" in (moves[0].failure or "")
    # A provider down for longer than a poll's three tries: asked again at the next poll.
    stage, moves = await _track(time_skipping_env, ["down", "down", "down", "down", "closed"])
    assert stage == "failed" and "closed unmerged" in (moves[0].failure or "")
    stage, moves = await _track(time_skipping_env, ["open", "refused"])
    assert stage == "failed"
    assert moves[0].failure == (
        "The pull request could not be tracked: GitHub did not accept the token."
    )
