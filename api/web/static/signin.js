// The sign-in page: first try to resume an existing sign-in silently, else offer the options.
import { refresh } from "./auth.js";

const params = new URLSearchParams(location.search);
const next = params.get("next")?.startsWith("/") ? params.get("next") : "/";
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
