// The role matrix editor: a role's column is saved as its complete permission set.
import { api } from "./auth.js";
import { problemText, say, send } from "./admin.js";

const message = document.getElementById("roles-message");
const boxes = (role) => [...document.querySelectorAll(`#matrix input[data-role="${CSS.escape(role)}"]`)];
const saved = new Map();  // role id -> the permission set last saved, to spot unsaved edits

function current(role) {
  return boxes(role).filter((b) => b.checked).map((b) => b.value).sort();
}
function markDirty(role) {
  const button = document.querySelector(`[data-save-role="${CSS.escape(role)}"]`);
  if (!button) return;
  const dirty = current(role).join() !== saved.get(role);
  button.disabled = !dirty;
  document.querySelector(`[data-role-col="${CSS.escape(role)}"]`)?.classList.toggle("dirty", dirty);
}

document.querySelectorAll("[data-save-role]").forEach((b) => saved.set(b.dataset.saveRole, current(b.dataset.saveRole).join()));
document.getElementById("matrix").addEventListener("change", (e) => {
  if (e.target.dataset.role) markDirty(e.target.dataset.role);
});

document.addEventListener("click", async (e) => {
  const save = e.target.closest("[data-save-role]");
  if (save) {
    const role = save.dataset.saveRole;
    save.disabled = true;
    const res = await send(`/api/roles/${encodeURIComponent(role)}/permissions`, "PUT", { permissions: current(role) });
    if (!res.ok) {
      say(message, await problemText(res), true);
      return markDirty(role);
    }
    const body = await res.json();
    saved.set(role, [...body.permissions].sort().join());
    say(message, `Saved ${body.name}: ${body.permissions.length} permissions.`);
    return markDirty(role);
  }
  const del = e.target.closest("[data-delete-role]");
  if (del) {
    if (!confirm(`Delete the role ${del.dataset.name}? People holding it lose its permissions.`)) return;
    const res = await api(`/api/roles/${encodeURIComponent(del.dataset.deleteRole)}`, { method: "DELETE" });
    if (res.ok) return location.reload();
    return say(message, await problemText(res), true);
  }
  const rename = e.target.closest("[data-rename-role]");
  if (rename) {
    const name = prompt("Role name", rename.dataset.name);
    if (name === null) return;
    const description = prompt("Description", rename.dataset.description);
    if (description === null) return;
    const res = await send(`/api/roles/${encodeURIComponent(rename.dataset.renameRole)}`, "PATCH", { name, description });
    if (res.ok) return location.reload();
    say(message, await problemText(res), true);
  }
});

document.getElementById("new-role")?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(e.target));
  const res = await send("/api/roles", "POST", { ...data, permissions: [] });
  if (res.ok) return location.reload();
  say(message, await problemText(res), true);
});

addEventListener("beforeunload", (e) => {
  if (document.querySelector("[data-save-role]:not(:disabled)")) e.preventDefault();
});
