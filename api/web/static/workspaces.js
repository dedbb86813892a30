// Workspace pages: tabs, and forms that write through the JSON API with the in-memory
// access token (auth.js). A form names its endpoint in data-api ({field} placeholders are
// filled from its values) and its verb in data-method; fields named "a.b" nest as {a: {b}}.
import { api } from "./auth.js";

const FLASH = "polygent-workspace-flash";

function valueOf(el) {
  if (el.type === "checkbox") return el.checked;
  if (el.dataset.kind === "list") return el.value.split(",").map((s) => s.trim()).filter(Boolean);
  if (el.dataset.kind === "number") return el.value === "" ? null : Number(el.value);
  if (el.dataset.kind === "json") {
    try {
      return JSON.parse(el.value || "null");
    } catch {
      return el.value; // sent as typed: the API answers 422 naming the field
    }
  }
  return el.value;
}

function collect(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.matches(":disabled")) continue;
    if ("omitEmpty" in el.dataset && el.value === "") continue;
    const path = el.name.split(".");
    let obj = body;
    for (const key of path.slice(0, -1)) obj = obj[key] ??= {};
    obj[path.at(-1)] = valueOf(el);
  }
  return body;
}

const fill = (template, values) =>
  template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(values[k] ?? ""));

async function send(url, method, body) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const res = await api(url, options);
  const data = await res.json().catch(() => null);
  return { res, data };
}

function done(then, data, text) {
  if (then === "open" && data?.id) return location.assign(`/workspaces/${data.id}`);
  if (then?.startsWith("/")) return location.assign(then);
  sessionStorage.setItem(FLASH, JSON.stringify({ tab: currentTab(), text }));
  location.reload();
}

function fail(where, res, data) {
  where.textContent = data?.detail || `Failed (${res.status}).`;
  where.classList.add("error");
}

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("form[data-api]");
  if (!form) return;
  e.preventDefault();
  const message = form.querySelector(".message");
  let body = collect(form);
  let url = fill(form.dataset.api, body);
  let method = form.dataset.method || "POST";
  if ("upsert" in form.dataset && document.querySelector(`tr[data-variable="${CSS.escape(body.name)}"]`)) {
    url = `${url}/${encodeURIComponent(body.name)}`;
    method = "PUT";
    delete body.name;
  }
  if ("nobody" in form.dataset) body = undefined;
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  message.classList.remove("error");
  message.textContent = form.dataset.busy || "Saving…";
  try {
    const { res, data } = await send(url, method, body);
    if (!res.ok) return fail(message, res, data);
    const text = data && "created" in data
      ? `Imported: ${data.created.length} new, ${data.updated.length} updated, ${data.skipped.length} skipped.`
      : "Saved.";
    done(form.dataset.then, data, text);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
});

document.addEventListener("click", async (e) => {
  const edit = e.target.closest("[data-edit-variable]");
  if (edit) {
    const form = document.getElementById("variable-form");
    form.elements.name.value = edit.dataset.editVariable;
    form.elements.value.value = edit.dataset.value;
    form.elements.secret.checked = Boolean(edit.dataset.secret);
    form.elements.value.focus();
    return;
  }
  const btn = e.target.closest("[data-send]");
  if (!btn) return;
  if (btn.dataset.confirm && !confirm(btn.dataset.confirm)) return;
  btn.disabled = true;
  const body = btn.dataset.body ? JSON.parse(btn.dataset.body) : undefined;
  const { res, data } = await send(btn.dataset.send, btn.dataset.method || "POST", body);
  btn.disabled = false;
  const message = btn.closest("[data-panel]")?.querySelector(".message");
  if (!res.ok) {
    if (message) fail(message, res, data);
    else alert(data?.detail || `Failed (${res.status}).`);
    return;
  }
  done(btn.dataset.then, data, "Done.");
});

// Tabs: the open tab lives in the URL hash, so a reload after a save stays on it.
const tabs = [...document.querySelectorAll("[role=tab][data-tab]")];
const currentTab = () => location.hash.slice(1) || tabs[0]?.dataset.tab;

function show(name) {
  if (!tabs.some((t) => t.dataset.tab === name)) name = tabs[0]?.dataset.tab;
  tabs.forEach((t) => t.setAttribute("aria-selected", String(t.dataset.tab === name)));
  document.querySelectorAll("[data-panel]").forEach((p) => (p.hidden = p.dataset.panel !== name));
}

tabs.forEach((t) => t.addEventListener("click", () => {
  history.replaceState(null, "", `#${t.dataset.tab}`);
  show(t.dataset.tab);
}));
if (tabs.length) show(currentTab());

// Ticket settings: only the chosen source's fields are shown and sent.
const source = document.querySelector("[data-ticket-source]");
function showSource() {
  document.querySelectorAll("fieldset[data-source]").forEach((f) => {
    const on = f.dataset.source === source.value;
    f.hidden = !on;
    f.disabled = !on || source.disabled || source.matches(":disabled");
  });
}
source?.addEventListener("change", showSource);
if (source) showSource();

const flash = JSON.parse(sessionStorage.getItem(FLASH) || "null");
sessionStorage.removeItem(FLASH);
if (flash) {
  const panel = document.querySelector(`[data-panel="${flash.tab}"]`) || document;
  const message = panel.querySelector(".message");
  if (message) message.textContent = flash.text;
}
