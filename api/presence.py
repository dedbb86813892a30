"""Who is viewing each session, for the `session.presence` WebSocket event.

An in-process registry, one per app: it only knows this process's sockets, so several API
replicas need it kept on the shared bus (PostgreSQL LISTEN/NOTIFY) to agree on who is viewing.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import State


class Presence:
    def __init__(self) -> None:
        # session id -> connection token -> (user id, name)
        self._viewers: dict[str, dict[object, tuple[str, str]]] = {}

    def join(self, session_id: str, conn: object, user_id: str, name: str) -> None:
        self._viewers.setdefault(session_id, {})[conn] = (user_id, name)

    def leave(self, session_id: str, conn: object) -> bool:
        """False when `conn` was not viewing the session (nothing to announce)."""
        viewers = self._viewers.get(session_id)
        if viewers is None or viewers.pop(conn, None) is None:
            return False
        if not viewers:
            del self._viewers[session_id]
        return True

    def viewers(self, session_id: str) -> list[dict[str, str]]:
        """One entry per person, however many tabs they have open on the session."""
        people = dict(self._viewers.get(session_id, {}).values())
        return [
            {"user_id": uid, "name": name}
            for uid, name in sorted(people.items(), key=lambda p: (p[1], p[0]))
        ]

    def event(self, session_id: str) -> dict[str, Any]:
        return {
            "type": "session.presence",
            "session_id": session_id,
            "viewers": self.viewers(session_id),
        }


def presence_of(app_state: State) -> Presence:
    """The app's registry, created on first use (several apps may share a test process)."""
    found: Presence | None = getattr(app_state, "presence", None)
    if found is None:
        found = Presence()
        app_state.presence = found
    return found
