// The profile page: tabs, ending sign-ins, and personal PATs (write-only) per workspace.
import { api, signOut } from "./auth.js";
import { problemText, say, send } from "./admin.js";

const message = document.getElementById("profile-message");
const tabs = [...document.querySelectorAll('[role="tab"]')];

function show(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
  }
  history.replaceState(null, "", `#${tab.id.replace("tab-", "")}`);
}
tabs.forEach((t) => t.addEventListener("click", () => show(t)));
const initial = document.getElementById(`tab-${location.hash.slice(1)}`);
if (initial) show(initial);
loadPats();

document.addEventListener("click", async (e) => {
  const revoke = e.target.closest("[data-revoke-device]");
  if (revoke) {
    if (revoke.hasAttribute("data-current")) return signOut();
    revoke.disabled = true;
    const res = await api(`/api/me/devices/${encodeURIComponent(revoke.dataset.revokeDevice)}`, { method: "DELETE" });
    if (res.ok) revoke.closest("tr").remove();
    else say(message, await problemText(res), true);
    return;
  }
  if (e.target.closest("[data-sign-out-everywhere]")) {
    if (!confirm("Sign out on every device, this one included?")) return;
    const res = await api("/api/me/sign-out-everywhere", { method: "POST" });
    if (res.ok) location.assign("/signin");
    else say(message, await problemText(res), true);
  }
});

// Personal PATs: the rows are the workspaces you see; GET /api/me/pats says which hold a PAT
// of yours (never the PAT); PUT/DELETE /api/me/pats/{workspace_id} set or clear it.
async function loadPats() {
  const rows = [...document.querySelectorAll("[data-pat-workspace]")];
  if (!rows.length) return;
  const res = await api("/api/me/pats");
  if (res.status === 404 || res.status === 405) {
    rows.forEach((tr) => { tr.querySelector("[data-pat-state]").textContent = "unavailable"; });
    return say(message, "Personal PATs are not available on this server yet.", true);
  }
  if (!res.ok) return say(message, await problemText(res), true);
  const set = new Map((await res.json()).map((p) => [p.workspace_id, p]));
  for (const tr of rows) {
    const pat = set.get(tr.dataset.patWorkspace);
    const state = tr.querySelector("[data-pat-state]");
    state.textContent = pat ? "set" : "not set";
    state.className = `badge ${pat ? "on" : "off"}`;
    tr.querySelector("[data-pat-since]").textContent = pat ? `since ${pat.updated_at.slice(0, 10)}` : "";
    tr.querySelector("[data-pat-clear]").hidden = !pat;
    tr.querySelector('input[name="pat"]').placeholder = pat ? "Replace your PAT" : "Paste a PAT";
  }
}

document.addEventListener("submit", async (e) => {
  const form = e.target.closest("[data-pat-form]");
  if (!form) return;
  e.preventDefault();
  const ws = form.closest("tr").dataset.patWorkspace;
  const res = await send(`/api/me/pats/${encodeURIComponent(ws)}`, "PUT", { value: form.elements.pat.value });
  form.reset();
  if (!res.ok) return say(message, await problemText(res), true);
  say(message, "Saved your PAT.");
  loadPats();
});

document.addEventListener("click", async (e) => {
  const clear = e.target.closest("[data-pat-clear]");
  if (!clear) return;
  const ws = clear.closest("tr").dataset.patWorkspace;
  const res = await api(`/api/me/pats/${encodeURIComponent(ws)}`, { method: "DELETE" });
  if (!res.ok) return say(message, await problemText(res), true);
  say(message, "Cleared your PAT.");
  loadPats();
});
