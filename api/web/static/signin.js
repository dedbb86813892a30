// The sign-in page: first try to resume an existing sign-in silently, else offer the options.
import { refresh } from "./auth.js";

const params = new URLSearchParams(location.search);
// Only a page of this site: "//evil.example" or "/\\evil.example" resolve to another origin.
function sameSite(path) {
  try {
    const url = new URL(path || "/", location.origin);
    return url.origin === location.origin && (path || "").startsWith("/") ? url.pathname + url.search : "/";
  } catch {
    return "/";
  }
}
const next = sameSite(params.get("next"));
const form = document.getElementById("local-form");
const message = document.getElementById("signin-message");

if (!params.get("setup_token") && (await refresh())) location.replace(next);
document.body.classList.add("ready");

form?.addEventListener("submit", async (e) => {
  e.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  if (!data.setup_token) delete data.setup_token;
  const res = await fetch("/auth/local", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
  });
  if (res.ok) location.replace(next);
  else message.textContent = (await res.json().catch(() => ({}))).detail || "Sign-in failed.";
});
