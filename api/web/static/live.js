// Live updates: one WebSocket per tab; sections marked data-live-src refresh when an
// event they listen to (data-live-on) arrives. Reconnects with backoff.
import { api, refresh as refreshSignIn } from "./auth.js";

const indicator = () => document.getElementById("live-indicator");
let delay = 500;

async function refresh(el) {
  const res = await api(el.dataset.liveSrc, { headers: { Accept: "text/html" } });
  if (res.ok) el.innerHTML = await res.text();
}

function refreshFor(type) {
  document.querySelectorAll("[data-live-src]").forEach((el) => {
    const on = (el.dataset.liveOn || "").split(/\s+/);
    if (type === "*" || on.includes(type)) refresh(el);
  });
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws`);
  ws.onopen = () => {
    delay = 500;
    indicator().textContent = "live";
    indicator().classList.add("on");
  };
  ws.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    if (event.type === "hello") refreshFor("*");  // catch up on anything missed while away
    else refreshFor(event.type);
    document.dispatchEvent(new CustomEvent("polygent:event", { detail: event }));
  };
  ws.onclose = async (e) => {
    indicator().textContent = "offline";
    indicator().classList.remove("on");
    if (e.code === 4401 && !(await refreshSignIn())) {  // the access cookie expired
      location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`);
      return;
    }
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  };
}

document.addEventListener("click", async (e) => {
  const btn = e.target.closest("[data-probe]");
  if (!btn) return;
  btn.disabled = true;
  btn.textContent = "Probing…";
  const res = await api(`/api/hosts/${encodeURIComponent(btn.dataset.probe)}/probe`, { method: "POST" });
  if (!res.ok) {
    const problem = await res.json().catch(() => ({}));
    btn.textContent = problem.detail || "Probe failed";
  }
});

connect();
