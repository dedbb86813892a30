"""The words a session adds to each turn: toggle instructions, Auto mode's completion promise,
and the Code Review and Verification passes. Pure functions, so the workflow may call them.
"""

from __future__ import annotations

from orchestrator.contracts.sessions import DONE_MARKER, PendingMessage, Toggle

TOGGLE_INSTRUCTIONS: dict[Toggle, str] = {
    "code_architecture": (
        "Code Architecture: before writing code, outline where the change belongs, keep to the "
        "project's existing structure and patterns, and avoid duplicating what already exists."
    ),
    "ux_enhancement": (
        "UX Enhancement: where the change touches what people see or type, make it clear, "
        "consistent with the rest of the interface, accessible and helpful on errors."
    ),
    "edge_cases": (
        "Edge Cases: handle empty, missing, very large, malformed and concurrent inputs, and "
        "failures of anything the code calls."
    ),
    "update_tests": (
        "Update Tests: add or update automated tests that cover the change and run them."
    ),
    "update_docs": (
        "Update Docs: update the README, docs and comments that describe what you changed."
    ),
}

REVIEW_PROMPT = (
    "Code Review pass: review every change made in this session (run `git diff {base}...HEAD` "
    "and `git status`) as a strict senior reviewer. Look for bugs, missed edge cases, unclear "
    "names, dead code and missing tests, then fix what you find. End with a short list of what "
    "you changed in this pass."
)
VERIFICATION_PROMPT = (
    "Verification pass: prove the change works. Build the project and run its tests and any "
    "checks it has (linters, type checks); exercise the changed behaviour directly where you "
    "can. Fix whatever fails, then report what you ran and the results."
)
AUTO_CONTINUE = (
    "Continue with the task. When everything asked for is complete, end your reply with the "
    "line " + DONE_MARKER + " on its own."
)
AUTO_PROMISE = (
    "You are working in Auto mode: you will be asked to continue until you say you are done. "
    "When everything asked for is complete, end your reply with the line "
    + DONE_MARKER
    + " on its own."
)


def turn_prompt(message: PendingMessage, toggles: list[Toggle], auto: bool) -> str:
    """The prompt for one turn: the message, then the active toggles' instructions."""
    parts = [message.text]
    if message.kind in ("user", "auto"):
        extra = [TOGGLE_INSTRUCTIONS[t] for t in toggles if t in TOGGLE_INSTRUCTIONS]
        if extra:
            parts.append(
                "While doing this, follow these session settings:\n- " + "\n- ".join(extra)
            )
        if auto and message.kind == "user":
            parts.append(AUTO_PROMISE)
    if message.attachments:
        names = "\n".join(f"- .polygent/attachments/{a.id}/{a.name}" for a in message.attachments)
        parts.append("Attached files (paths relative to the working directory):\n" + names)
    return "\n\n".join(parts)


def says_done(final_text: str | None) -> bool:
    """True when the agent kept Auto mode's completion promise in its last message."""
    return bool(final_text) and DONE_MARKER in (final_text or "")


def passes_after(toggles: list[Toggle], base_branch: str) -> list[PendingMessage]:
    """The post-implementation passes the toggles ask for, in order."""
    out: list[PendingMessage] = []
    if "code_review" in toggles:
        out.append(PendingMessage(text=REVIEW_PROMPT.format(base=base_branch), kind="review"))
    if "verification" in toggles:
        out.append(PendingMessage(text=VERIFICATION_PROMPT, kind="verification"))
    return out
