"""Session hooks: scripts run on a session's host at its lifecycle events."""
