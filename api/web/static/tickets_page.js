// A ticket's page: its body (stage, actions, cost, links, history, comments) is a
// server-rendered fragment kept live; the buttons call the JSON API (which checks the
// permission again), the reject form sends feedback with attachments, the comment form adds a
// comment with attachments. Decisions carry a request id, so a double click is one decision.
import { api } from "./auth.js";
import { problemText, randomId } from "./render.js";
import { showCandidateDiffs } from "./tickets_candidates.js";
import { liveFragment, upload } from "./tickets_live.js";

const page = document.querySelector("[data-ticket-page]");

if (page) {
  const id = page.dataset.ticketPage;
  const base = `/api/tickets/${encodeURIComponent(id)}`;
  const box = page.querySelector("[data-ticket-body]");
  const rejectForm = page.querySelector("[data-reject-form]");
  const message = page.querySelector("[data-ticket-message]");
  const say = (text, error = false) => {
    message.textContent = text;
    message.classList.toggle("error", error);
  };
  // The reject form only makes sense while this viewer may decide on the ticket.
  const sync = () => {
    if (rejectForm && !box.querySelector("[data-can-decide]")) rejectForm.hidden = true;
    showCandidateDiffs(box);
  };
  showCandidateDiffs(box);
  const live = liveFragment(box, box.dataset.bodySrc, {
    wants: (ev) => ev.type === "ticket.updated" && ev.ticket_id === id,
    after: sync,
  });

  async function post(path, body) {
    const res = await api(`${base}/${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body ?? {}),
    });
    if (!res.ok) {
      say((await problemText(res)).text, true);
      return null;
    }
    live.soon(0);
    return res.json();
  }

  const DONE = {
    queue: "Queued.", approve: "Approved.", "skip-to-merge": "Skipping to merge.", cancel: "Canceled.",
    "pr-merged": "Recorded as merged.", "pr-closed": "Recorded as closed.",
    "github-issue": "The GitHub issue is created and linked.", "tfs-bug": "The Azure DevOps bug is created and linked.",
  };
  page.addEventListener("click", async (e) => {
    const button = e.target.closest("[data-act]");
    if (button) {
      if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
      const act = button.dataset.act;
      button.disabled = true;
      say("Working…");
      try {
        const body = act === "approve" ? { request_id: randomId() } : undefined;
        if (await post(act, body)) say(DONE[act] ?? "Done.");
      } finally {
        button.disabled = false;
      }
      return;
    }
    const pick = e.target.closest("[data-pick]");
    if (pick) {
      pick.disabled = true;
      say("Picking…");
      try {
        if (await post("pick", { session_id: pick.dataset.pick, request_id: randomId() })) {
          say("Picked: the other candidates are canceled.");
        }
      } finally {
        pick.disabled = false;
      }
      return;
    }
    if (e.target.closest("[data-reject-open]") && rejectForm) {
      rejectForm.hidden = false;
      rejectForm.elements.feedback.focus();
    }
    if (e.target.closest("[data-reject-close]") && rejectForm) rejectForm.hidden = true;
  });

  rejectForm?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = rejectForm.elements;
    const button = rejectForm.querySelector("button[type=submit]");
    button.disabled = true;
    say("Sending the feedback…");
    try {
      const attachment_ids = await upload(id, f.files);
      const done = await post("reject", { feedback: f.feedback.value, attachment_ids, request_id: randomId() });
      if (done) {
        rejectForm.reset();
        rejectForm.hidden = true;
        say("Sent back to Implementation with your feedback.");
      }
    } catch (err) {
      say(err.message, true);
    } finally {
      button.disabled = false;
    }
  });

  const commentForm = page.querySelector("[data-comment-form]");
  commentForm?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = commentForm.elements;
    const button = commentForm.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const attachment_ids = await upload(id, f.files);
      if (await post("comments", { body: f.body.value, attachment_ids })) {
        commentForm.reset();
        say("Comment added.");
      }
    } catch (err) {
      say(err.message, true);
    } finally {
      button.disabled = false;
    }
  });
}
