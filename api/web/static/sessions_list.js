// The workspace page's Sessions section: the list (kept live: refetched when a session event
// of this workspace arrives, on reconnect, and every few seconds while the tab is visible)
// and the "New session" form, which starts the session and opens its page. The form offers
// the providers GET /api/providers lists (the ones turned on in Settings, refetched each time
// the form opens, so a change shows without a reload; Claude Code first), and the chosen
// provider's visible models as suggestions for the Model field. With none, it cannot submit.
import { api } from "./auth.js";
import { STATUS_CLASS, STATUS_LABELS, ago, el, problemText } from "./render.js";

const section = document.querySelector("[data-sessions-of]");
const POLL_MS = 5000;
const MODES = { chat: "Chat", develop: "Develop", bot: "Bot" };

function row(s) {
  const tr = el("tr");
  tr.dataset.session = s.id;
  const title = el("td", "title");
  const link = el("a", null, s.title || "Untitled session");
  link.href = `/sessions/${encodeURIComponent(s.id)}`;
  title.append(link);
  if (s.unread > 0) {
    const badge = el("span", "badge unread", `${s.unread} new`);
    badge.title = `${s.unread} unread events`;
    title.append(" ", badge);
  }
  const status = el("td");
  status.append(el("span", `badge status ${STATUS_CLASS[s.status] ?? ""}`, STATUS_LABELS[s.status] ?? s.status));
  const updated = el("td", "hint", ago(s.updated_at));
  updated.title = s.updated_at;
  tr.append(title, el("td", null, MODES[s.mode] ?? s.mode), status, el("td", null, s.model ? `${s.provider} · ${s.model}` : s.provider), updated);
  return tr;
}

function note(body, cls, text) {
  const td = el("td", cls, text);
  td.colSpan = 5;
  const tr = el("tr");
  tr.append(td);
  body.replaceChildren(tr);
}

let loading = null;
async function load() {
  if (loading) return loading;
  loading = (async () => {
    const body = section.querySelector("[data-session-rows]");
    try {
      const res = await api(`/api/workspaces/${encodeURIComponent(section.dataset.sessionsOf)}/sessions?limit=100`);
      if (!res.ok) return note(body, "error", (await problemText(res)).text);
      const data = await res.json();
      if (!data.items.length) return note(body, "empty", "No sessions yet.");
      body.replaceChildren(...data.items.map(row));
    } finally {
      loading = null;
    }
  })();
  return loading;
}

const FIRST = "claude-code";
let providers = new Map();  // id → the provider as GET /api/providers lists it

// Fill the provider <select> from the API, keeping the current choice when it is still on.
async function loadProviders(form) {
  const select = form.elements.provider;
  const submit = form.querySelector("button[type=submit]");
  const none = form.querySelector("[data-no-providers]");
  const message = form.querySelector(".message");
  const res = await api("/api/providers");
  if (!res.ok) {
    message.textContent = (await problemText(res)).text;
    message.classList.add("error");
    return;
  }
  const listed = (await res.json()).sort((a, b) => (b.id === FIRST) - (a.id === FIRST));
  const current = select.value;
  providers = new Map(listed.map((p) => [p.id, p]));
  const options = listed.map((p) => {
    const option = el("option", null, p.name);
    option.value = p.id;
    return option;
  });
  if (!options.length) options.push(Object.assign(el("option", null, "None is turned on"), { value: "" }));
  select.replaceChildren(...options);
  if (providers.has(current)) select.value = current;
  none.hidden = listed.length > 0;
  select.disabled = submit.disabled = !listed.length;
  showModels(form);
}

function showModels(form) {
  const models = providers.get(form.elements.provider.value)?.models ?? [];
  form.querySelector("[data-models]").replaceChildren(...models.map((m) => {
    const option = el("option");
    option.value = m;
    return option;
  }));
}

function newSessionForm() {
  const form = document.getElementById("new-session");
  const toggle = section.querySelector("[data-new-session]");
  if (!form || !toggle) return;
  toggle.addEventListener("click", () => {
    form.hidden = !form.hidden;
    toggle.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) {
      form.elements.message.focus();
      loadProviders(form);
    }
  });
  form.elements.provider.addEventListener("change", () => showModels(form));
  const develop = form.querySelector("fieldset.develop");
  const showDevelop = () => (develop.hidden = form.elements.mode.value !== "develop");
  form.elements.mode.addEventListener("change", showDevelop);
  showDevelop();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const message = form.querySelector(".message");
    const body = {
      mode: f.mode.value,
      provider: f.provider.value,
      dev_mode: f.dev_mode.value,
      auto_turn_limit: Number(f.auto_turn_limit.value || 10),
      toggles: {},
    };
    for (const [key, input] of [["title", f.title], ["model", f.model], ["base_branch", f.base_branch], ["message", f.message]]) {
      if (input.value.trim()) body[key] = input.value.trim();
    }
    form.querySelectorAll("input[name^='toggles.']").forEach((c) => (body.toggles[c.name.slice(8)] = c.checked));
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    message.classList.remove("error");
    message.textContent = "Starting the session…";
    try {
      const res = await api(`/api/workspaces/${encodeURIComponent(section.dataset.sessionsOf)}/sessions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) {
        message.textContent = (await problemText(res)).text;
        message.classList.add("error");
        return;
      }
      const created = await res.json();
      location.assign(`/sessions/${encodeURIComponent(created.id)}`);
    } finally {
      button.disabled = !providers.size;
    }
  });
}

if (section) {
  newSessionForm();
  load();
  const ws = section.dataset.sessionsOf;
  document.addEventListener("polygent:event", (e) => {
    const ev = e.detail;
    if (ev.type === "hello" || (ev.type?.startsWith("session") && (!ev.workspace_id || ev.workspace_id === ws))) load();
  });
  setInterval(() => document.visibilityState === "visible" && load(), POLL_MS);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && load());
}
