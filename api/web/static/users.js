// The users page: edit a person's roles in a dialog, disable or enable them, end sign-ins.
import { api } from "./auth.js";
import { problemText, say, send } from "./admin.js";

const message = document.getElementById("users-message");
const dialog = document.getElementById("roles-dialog");
const form = document.getElementById("roles-form");
let editing = null;

async function act(res, done) {
  if (res.ok) return done();
  say(message, await problemText(res), true);
}

document.addEventListener("click", async (e) => {
  const row = e.target.closest("tr[data-user]");
  if (e.target.closest("[data-edit-roles]") && row) {
    editing = row;
    const held = new Set(row.dataset.roles.split(" ").filter(Boolean));
    dialog.querySelector("[data-dialog-name]").textContent = row.dataset.name;
    dialog.querySelector("[data-dialog-message]").textContent = "";
    form.querySelectorAll('input[name="role"]').forEach((box) => { box.checked = held.has(box.value); });
    dialog.showModal();
    return;
  }
  if (e.target.closest("[data-close]")) return dialog.close();
  const toggle = e.target.closest("[data-disable], [data-enable]");
  if (toggle && row) {
    const disable = toggle.hasAttribute("data-disable");
    if (disable && !confirm(`Disable ${row.dataset.name}? They are signed out everywhere.`)) return;
    toggle.disabled = true;
    const path = `/api/users/${encodeURIComponent(row.dataset.user)}/${disable ? "disable" : "enable"}`;
    await act(await api(path, { method: "POST" }), () => location.reload());
    toggle.disabled = false;
    return;
  }
  const revoke = e.target.closest("[data-revoke]");
  if (revoke) {
    const tr = revoke.closest("tr");
    revoke.disabled = true;
    const path = `/api/users/${encodeURIComponent(tr.dataset.deviceUser)}/devices/${encodeURIComponent(tr.dataset.device)}`;
    await act(await api(path, { method: "DELETE" }), () => tr.remove());
  }
});

form?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const roles = [...form.querySelectorAll('input[name="role"]:checked')].map((b) => b.value);
  const res = await send(`/api/users/${encodeURIComponent(editing.dataset.user)}/roles`, "PUT", { roles });
  if (res.ok) return location.reload();
  dialog.querySelector("[data-dialog-message]").textContent = await problemText(res);
});
