// Small helpers shared by the profile, users and roles pages.
import { api } from "./auth.js";

// The one sentence a problem+json answer carries, or a fallback naming the status.
export async function problemText(res) {
  const body = await res.json().catch(() => ({}));
  return body.detail || `The server answered ${res.status}.`;
}

export function say(el, text, error = false) {
  el.textContent = text;
  el.classList.toggle("error", error);
}

export function esc(value) {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function send(path, method, body) {
  return api(path, {
    method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}
