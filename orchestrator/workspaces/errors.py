"""Domain errors of the workspaces package; the API maps each to its HTTP status."""

from __future__ import annotations


class WorkspaceError(Exception):
    status = 400


class NotFound(WorkspaceError):
    """Missing, or invisible to the caller (not a member): the same answer for both."""

    status = 404


class Forbidden(WorkspaceError):
    status = 403


class Conflict(WorkspaceError):
    status = 409


class Invalid(WorkspaceError):
    """A field's value is wrong in a way only the service can tell (422 naming the field)."""

    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class Unavailable(WorkspaceError):
    """A dependency (a session host, Temporal) is missing: try again later."""

    status = 503
