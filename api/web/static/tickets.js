// A workspace's ticket board: the columns (a server-rendered fragment, kept live so a card
// moves when its ticket's stage changes), the filter (text, priority, tag) and the
// "New ticket" form, which offers the providers GET /api/providers lists.
import { api } from "./auth.js";
import { el, problemText } from "./render.js";
import { liveFragment } from "./tickets_live.js";

const page = document.querySelector("[data-tickets-of]");
const FIRST = "claude-code";

if (page) {
  const board = page.querySelector("[data-board]");
  const filter = page.querySelector("[data-board-filter]");
  const query = () => {
    const params = new URLSearchParams();
    for (const name of ["q", "priority", "tag"]) {
      const value = filter.elements[name].value.trim();
      if (value) params.set(name, value);
    }
    const qs = params.toString();
    return board.dataset.boardSrc + (qs ? `?${qs}` : "");
  };
  const live = liveFragment(board, query, { wants: (ev) => ev.type === "ticket.updated" });
  live.load();
  filter.addEventListener("input", () => live.soon(200));
  filter.addEventListener("submit", (e) => {
    e.preventDefault();
    live.soon(0);
  });
  newTicketForm(live);
}

let providers = new Map();

async function loadProviders(form) {
  const select = form.elements.provider;
  const res = await api("/api/providers");
  if (!res.ok) return;
  const listed = (await res.json()).sort((a, b) => (b.id === FIRST) - (a.id === FIRST));
  const current = select.value;
  providers = new Map(listed.map((p) => [p.id, p]));
  select.replaceChildren(...listed.map((p) => Object.assign(el("option", null, p.name), { value: p.id })));
  if (providers.has(current)) select.value = current;
  showModels(form);
}

function showModels(form) {
  const models = providers.get(form.elements.provider.value)?.models ?? [];
  form.querySelector("[data-models]").replaceChildren(...models.map((m) => Object.assign(el("option"), { value: m })));
}

function newTicketForm(live) {
  const form = document.getElementById("new-ticket");
  const toggle = page.querySelector("[data-new-ticket]");
  if (!form || !toggle) return;
  const message = form.querySelector("[data-form-message]");
  const say = (text, error = false) => {
    message.textContent = text;
    message.classList.toggle("error", error);
  };
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) {
      form.elements.title.focus();
      loadProviders(form);
    }
  });
  form.elements.provider.addEventListener("change", () => showModels(form));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { title: f.title.value.trim(), priority: f.priority.value, queue: f.queue.checked };
    for (const name of ["description", "developer_id", "qa_id", "provider", "model"]) {
      if (f[name].value.trim()) body[name] = f[name].value.trim();
    }
    const tags = f.tags.value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) body.tags = tags;
    if (f.budget_usd.value) body.budget_usd = Number(f.budget_usd.value);
    for (const name of ["force_no_dev", "force_no_qa", "skip_to_merge"]) if (f[name].checked) body[name] = true;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("Creating the ticket…");
    try {
      const res = await api(`/api/workspaces/${encodeURIComponent(page.dataset.ticketsOf)}/tickets`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) {
        say((await problemText(res)).text, true);  // a 422 names the field
        return;
      }
      const created = await res.json();
      form.reset();
      say(`Created ${created.key}${body.queue ? " and queued it" : ""}.`);
      live.soon(0);
    } finally {
      button.disabled = false;
    }
  });
}
