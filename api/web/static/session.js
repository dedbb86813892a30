// A session's page: the header kept current from GET /api/sessions/{id}, the live transcript
// (WebSocket backlog then live events, from the last cursor after a reconnect), presence, the
// unread marker and read cursor, and the composer with its actions and settings.
import { api } from "./auth.js";
import { watchSession } from "./live.js";
import { mentions } from "./mentions.js";
import { STATUS_CLASS, STATUS_LABELS, el, money, problemText, randomId } from "./render.js";
import { Transcript } from "./transcript.js";

const page = document.querySelector(".session-page[data-session]");
const MAX_ATTACHMENT = 10 * 1024 * 1024;
const ENDED = new Set(["done", "canceled"]);

if (page) start();

function start() {
  const sid = page.dataset.session;
  const base = `/api/sessions/${encodeURIComponent(sid)}`;
  const field = (name) => page.querySelector(`[data-field="${name}"]`);
  const composer = page.querySelector("[data-composer]");
  const say = (text, error = false) => {
    const m = page.querySelector("[data-composer-message]");
    m.textContent = text;
    m.classList.toggle("error", error);
  };
  let info = null;
  let readAtLoad = null;  // the "New" divider goes there, in the backlog only
  let readSent = 0;
  let attachments = [];

  const transcript = new Transcript(page.querySelector("[data-transcript]"), { onTodos: showTodos });

  function showTodos(todos) {
    const list = page.querySelector("[data-todos]");
    if (!todos.length) return list.replaceChildren(el("li", "empty", "The todo list is empty."));
    list.replaceChildren(...todos.map((t) => {
      const li = el("li", `todo ${t.status}`, t.content);
      li.prepend(el("span", "mark", t.status === "completed" ? "✓ " : t.status === "in_progress" ? "▸ " : "○ "));
      return li;
    }));
  }

  function header(s) {
    info = s;
    page.dataset.status = s.status;
    field("title").textContent = s.title || "Untitled session";
    document.title = `${s.title || "Session"} · Polygent`;
    const status = field("status");
    status.textContent = STATUS_LABELS[s.status] ?? s.status;
    status.className = `badge status ${STATUS_CLASS[s.status] ?? ""}`;
    field("mode").textContent = s.mode;
    field("provider").textContent = s.model ? `${s.provider} · ${s.model}` : s.provider;
    field("host").textContent = s.host_id || "not yet assigned";
    const online = field("host_online");
    online.hidden = s.host_online === null || s.host_online === undefined;
    online.textContent = s.host_online ? "online" : "offline";
    online.className = `badge ${s.host_online ? "on" : "off"}`;
    field("branch").textContent = `${s.branch || "—"} → ${s.base_branch || "—"}`;
    const tokens = (s.input_tokens ?? 0) + (s.output_tokens ?? 0);
    const cache = (s.cache_read_tokens ?? 0) + (s.cache_write_tokens ?? 0);
    field("tokens").textContent = `${tokens.toLocaleString()}${cache ? ` (+${cache.toLocaleString()} cached)` : ""}`;
    field("cost").textContent = money(s.cost_usd ?? 0);
    const temporal = field("temporal_url");
    if (s.temporal_url && /^https?:\/\//.test(s.temporal_url)) {
      temporal.href = s.temporal_url;
      temporal.hidden = false;
    }
    if (composer) {
      const ended = ENDED.has(s.status);
      composer.querySelectorAll("button, input, textarea, select").forEach((c) => (c.disabled = ended));
      composer.querySelector("label.attach").classList.toggle("disabled", ended);
      composer.querySelector("textarea[name=text]").placeholder = ended
        ? `This session is ${STATUS_LABELS[s.status].toLowerCase()}.`
        : "Message the agent. Type @ to mention a file.";
      settings(s);
    }
  }

  function settings(s) {
    const f = composer.elements;
    if (document.activeElement?.closest("details.settings")) return;  // not while being edited
    if (s.dev_mode) f.dev_mode.value = s.dev_mode;
    if (s.auto_turn_limit) f.auto_turn_limit.value = s.auto_turn_limit;
    const on = Array.isArray(s.toggles) ? Object.fromEntries(s.toggles.map((k) => [k, true])) : s.toggles || {};
    composer.querySelectorAll("input[name^='toggles.']").forEach((c) => (c.checked = Boolean(on[c.name.slice(8)])));
  }

  let pending = null;
  function reload(delay = 300) {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      const res = await api(base);
      if (res.ok) header(await res.json());
    }, delay);
  }

  // The header also refreshes every few seconds while the session runs and the tab is seen:
  // a status change made where this API's event bus cannot hear it (an orchestrator worker in
  // another process), or an event missed across a reconnect, still shows.
  setInterval(() => {
    if (document.visibilityState === "visible" && info && !ENDED.has(info.status)) reload(0);
  }, 5000);

  function markRead() {
    if (document.visibilityState !== "visible" || transcript.last <= readSent) return;
    readSent = transcript.last;
    api(`${base}/read`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ cursor: readSent }),
    });
  }
  let readTimer = null;
  const markReadSoon = () => {
    clearTimeout(readTimer);
    readTimer = setTimeout(markRead, 800);
  };
  document.addEventListener("visibilitychange", markReadSoon);

  function presence(viewers) {
    const box = page.querySelector("[data-presence]");
    box.replaceChildren(...viewers.map((v) => el("span", "badge viewer", v.name)));
  }

  document.addEventListener("polygent:event", (e) => {
    const ev = e.detail;
    if (ev.type === "hello") reload(0);  // (re)connected: the header may have moved on
    if (ev.session_id !== sid) return;
    if (ev.type === "session.events") {
      const shown = transcript.add(ev.events, readAtLoad);
      if (shown.some((x) => ["system", "result", "usage", "error", "user"].includes(x.kind))) reload();
      markReadSoon();
      document.dispatchEvent(new CustomEvent("polygent:transcript", { detail: shown }));
    } else if (ev.type === "session.presence") presence(ev.viewers || []);
    else if (ev.type === "error") say(ev.detail || "Live updates are not available.", true);
    else if (ev.type === "subscribed") readAtLoad = null;
    else reload();
  });

  if (composer) wireComposer();

  // The header first (for the read cursor), then the transcript from the start.
  (async () => {
    const res = await api(base);
    if (res.ok) header(await res.json());
    readSent = info?.read_cursor ?? 0;
    readAtLoad = readSent;
    watchSession(sid, 0);
  })();

  function wireComposer() {
    const text = composer.elements.text;
    mentions(text, composer.querySelector("#mention-list"), sid);

    const chips = composer.querySelector("[data-attachments]");
    const drawChips = () => chips.replaceChildren(...attachments.map((a) => {
      const li = el("li", "badge", `${a.name} (${Math.ceil(a.size / 1024)} KB) `);
      const x = el("button", "link", "×");
      x.type = "button";
      x.setAttribute("aria-label", `Remove ${a.name}`);
      x.addEventListener("click", () => {
        attachments = attachments.filter((b) => b !== a);
        drawChips();
      });
      li.append(x);
      return li;
    }));

    composer.querySelector("[data-attach]").addEventListener("change", async (e) => {
      const files = [...e.target.files];
      e.target.value = "";
      for (const file of files) {
        if (file.size > MAX_ATTACHMENT) {
          say(`${file.name} is larger than 10 MB.`, true);
          continue;
        }
        const form = new FormData();
        form.append("file", file, file.name);
        say(`Uploading ${file.name}…`);
        const res = await api(`${base}/attachments`, { method: "POST", body: form });
        if (!res.ok) {
          say((await problemText(res)).text, true);
          continue;
        }
        attachments.push(await res.json());
        drawChips();
        say("");
      }
    });

    composer.addEventListener("submit", async (e) => {
      e.preventDefault();
      const message = text.value.trim();
      if (!message) return say("Write a message first.", true);
      const send = composer.querySelector("[data-send]");
      send.disabled = true;
      say("Sending…");
      const res = await api(`${base}/messages`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ text: message, attachment_ids: attachments.map((a) => a.id), request_id: randomId() }),
      });
      send.disabled = ENDED.has(info?.status);  // it may have ended meanwhile
      if (!res.ok) return say((await problemText(res)).text, true);
      text.value = "";
      attachments = [];
      drawChips();
      say("");
      reload(0);
    });
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) composer.requestSubmit();
    });

    composer.querySelectorAll("[data-action]").forEach((b) => b.addEventListener("click", async () => {
      if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
      b.disabled = true;
      say(`${b.textContent}…`);
      const res = await api(`${base}/${b.dataset.action}`, { method: "POST" });
      b.disabled = false;
      if (!res.ok) return say((await problemText(res)).text, true);
      header(await res.json());
      say("");
    }));

    composer.querySelectorAll("[data-patch]").forEach((input) => input.addEventListener("change", async () => {
      const f = composer.elements;
      const toggles = {};
      composer.querySelectorAll("input[name^='toggles.']").forEach((c) => (toggles[c.name.slice(8)] = c.checked));
      const body = { dev_mode: f.dev_mode.value, auto_turn_limit: Number(f.auto_turn_limit.value || 10), toggles };
      const res = await api(base, {
        method: "PATCH",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) return say((await problemText(res)).text, true);
      document.activeElement?.blur();
      header(await res.json());
      say("Settings saved.");
    }));
  }
}
