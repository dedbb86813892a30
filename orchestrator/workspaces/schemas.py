"""API shapes for workspaces, their variables, tasks, members and personal PATs.

Tokens are write-only: requests may carry `git_pat` or a personal PAT, responses only say
whether one is set. Secret variables come back with `value: null`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
)

from orchestrator.contracts.tickets import Stage
from orchestrator.schemas import RequestModel
from orchestrator.tickets.schemas import Provider
from orchestrator.workspaces import validation as v

Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120),
    AfterValidator(v.no_control),
]  # fmt: skip
GitUrl = Annotated[str, Field(max_length=2000), AfterValidator(v.git_url)]
Branch = Annotated[str, Field(max_length=255), AfterValidator(v.branch)]
Pat = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=r"^[!-~]+$"),
    Field(description="A token: printable ASCII, at most 500 characters; never returned"),
]
Prompt = Annotated[str, Field(max_length=20_000)]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(v.no_control),
]  # fmt: skip
VarName = Annotated[str, Field(min_length=1, max_length=200, pattern=v.ENV_NAME)]
VarValue = Annotated[str, Field(max_length=65_536)]
ScriptType = Literal["auto", "bash", "powershell", "cmd", "node", "python"]


StateName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    AfterValidator(v.no_control),
]  # fmt: skip
FieldRef = Annotated[
    str, StringConstraints(max_length=128, pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")
]
FieldValue = (
    Annotated[str, Field(max_length=1000), AfterValidator(v.no_control)] | bool | int | float
)
DEFAULT_STATUS_MAP: dict[Stage, str] = {"implementation": "Active", "completed": "Resolved"}
# Set by "Create TFS Bug" itself from the ticket: not overridable by default fields.
OWN_FIELDS = frozenset({
    "System.Title", "Microsoft.VSTS.TCM.ReproSteps", "System.AreaPath", "System.Tags",
    "System.Id", "System.Rev", "System.WorkItemType", "System.TeamProject",
})  # fmt: skip


def _not_ours(fields: dict[str, object]) -> dict[str, object]:
    taken = sorted(set(fields) & OWN_FIELDS)
    if taken:
        raise ValueError(f"{taken[0]} is set from the ticket itself")
    return fields


class _Tickets(BaseModel):
    """Ticket settings forbid unknown fields; every string field rejects control characters
    itself (RequestModel's NUL check cannot run on a union's discriminator)."""

    model_config = ConfigDict(extra="forbid")


class NoTickets(_Tickets):
    source: Literal["none"] = "none"


class AutoStartRule(_Tickets):
    """Items carrying `label` (a GitHub label, an Azure DevOps tag) become tickets for this
    provider and model, queued at once when `queue`."""

    label: Label
    provider: Provider
    model: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^[\w.:/@-]+$")
    queue: bool = True


def _unique_labels(rules: list[AutoStartRule]) -> list[AutoStartRule]:
    seen: set[str] = set()
    for rule in rules:
        if rule.label.casefold() in seen:
            raise ValueError(f"two rules for the label {rule.label!r}")
        seen.add(rule.label.casefold())
    return rules


AutoStart = Annotated[
    list[AutoStartRule], Field(default_factory=list, max_length=20), AfterValidator(_unique_labels)
]


class _Sync(_Tickets):
    """What both item sources share: the schedule, write-back and auto-start rules."""

    sync_enabled: bool = False
    sync_interval_minutes: int = Field(default=15, ge=1, le=1440)
    write_back: bool = False
    auto_start: AutoStart


class GitHubTickets(_Sync):
    source: Literal["github"]
    owner: str = Field(min_length=1, max_length=39, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$")
    repo: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    label_filters: list[Label] = Field(default_factory=list, max_length=50)


class TfsTickets(_Sync):
    source: Literal["tfs"]
    organization_url: str = Field(
        max_length=500, pattern=r"^https?://[^\s/\x00-\x1f]+(/[^\s\x00-\x1f]*)?$"
    )
    project: Name
    # The git repository pull requests go to (default: the one named like the project).
    repository: Name | None = None
    area_path: Annotated[str, Field(max_length=500), AfterValidator(v.no_control)] = ""
    tags: list[Label] = Field(default_factory=list, max_length=50)
    # Ticket stage → the work item state written back (stages not named write nothing).
    status_map: Annotated[dict[Stage, StateName], Field(max_length=10)] = Field(
        default_factory=lambda: dict(DEFAULT_STATUS_MAP)
    )
    # Fields every "Create TFS Bug" sets (reference name → value), e.g. Severity.
    default_fields: Annotated[
        dict[FieldRef, FieldValue], Field(max_length=20), AfterValidator(_not_ours)
    ] = Field(default_factory=dict)


TicketConfig = Annotated[NoTickets | GitHubTickets | TfsTickets, Field(discriminator="source")]
TICKETS = TypeAdapter[NoTickets | GitHubTickets | TfsTickets](TicketConfig)


class WorkspaceCreate(RequestModel):
    name: Name
    git_url: GitUrl
    default_branch: Branch = "main"
    git_pat: Pat | None = None
    tickets: TicketConfig = Field(default_factory=NoTickets)
    prompt_chat: Prompt = ""
    prompt_develop: Prompt = ""
    prompt_merge_conflicts: Prompt = ""
    prompt_insights: Prompt = ""


class WorkspaceUpdate(RequestModel):
    """Only the fields sent change; `git_pat: null` clears the token."""

    name: Name | None = None
    git_url: GitUrl | None = None
    default_branch: Branch | None = None
    git_pat: Pat | None = None
    tickets: TicketConfig | None = None
    prompt_chat: Prompt | None = None
    prompt_develop: Prompt | None = None
    prompt_merge_conflicts: Prompt | None = None
    prompt_insights: Prompt | None = None


class WorkspaceOut(BaseModel):
    id: str
    name: str
    git_url: str
    default_branch: str
    has_git_pat: bool
    tickets: TicketConfig
    prompt_chat: str
    prompt_develop: str
    prompt_merge_conflicts: str
    prompt_insights: str
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class VariableCreate(RequestModel):
    name: VarName
    value: VarValue
    secret: bool = False


class VariableUpdate(RequestModel):
    """A new value is always required: a secret value is never read back to be kept."""

    value: VarValue
    secret: bool = False


class VariableOut(BaseModel):
    name: str
    value: str | None = Field(description="null for secret variables")
    secret: bool
    updated_at: datetime


class VariableImport(RequestModel):
    format: Literal["env", "json"]
    content: str = Field(max_length=1_000_000)
    secret: bool = Field(
        default=False, description="store entries that do not say otherwise as secret"
    )


class ImportResult(BaseModel):
    created: list[str]
    updated: list[str]
    skipped: list[str] = Field(description="secret entries exported without a value")


class TaskIn(RequestModel):
    name: Name
    working_directory: Annotated[
        str, Field(max_length=1000), AfterValidator(v.working_directory)
    ] = ""
    script_type: ScriptType = "auto"
    script: str = Field(default="", max_length=100_000)


class TaskOut(BaseModel):
    id: str
    name: str
    working_directory: str
    script_type: ScriptType
    script: str
    updated_at: datetime


class MemberOut(BaseModel):
    user_id: str
    display_name: str
    email: str | None


class PersonalPatIn(RequestModel):
    value: Pat


class PersonalPatOut(BaseModel):
    workspace_id: str
    workspace_name: str
    updated_at: datetime
