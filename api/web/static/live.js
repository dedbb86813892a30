// Live updates: one WebSocket per tab; sections marked data-live-src refresh when an
// event they listen to (data-live-on) arrives. Reconnects with backoff. Pages watch a
// session's transcript with watchSession(id, after): the socket subscribes on every
// (re)connect from the last cursor it delivered, so a reconnect has no gap, and events at or
// below that cursor are dropped here too, so none is delivered twice.
import { api, refresh as refreshSignIn } from "./auth.js";

const indicator = () => document.getElementById("live-indicator");
const watched = new Map();  // session id -> last cursor delivered to the page
let delay = 500;
let socket = null;

function subscribe(sid) {
  if (socket?.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "subscribe", session_id: sid, after: watched.get(sid) }));
  }
}

// Deliver a session's transcript events (backlog, then live) as polygent:event from `after`.
export function watchSession(sid, after = 0) {
  watched.set(sid, after);
  subscribe(sid);
}

export function unwatchSession(sid) {
  watched.delete(sid);
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "unsubscribe", session_id: sid }));
}

// Drops events already delivered; false when nothing new is left.
function fresh(event) {
  if (event.type !== "session.events" || !watched.has(event.session_id)) return true;
  const last = watched.get(event.session_id);
  event.events = event.events.filter((e) => e.cursor > last);
  if (!event.events.length) return false;
  watched.set(event.session_id, Math.max(last, ...event.events.map((e) => e.cursor)));
  return true;
}

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
  socket = ws;
  ws.onopen = () => {
    delay = 500;
    indicator().textContent = "live";
    indicator().classList.add("on");
  };
  ws.onmessage = (msg) => {
    const event = JSON.parse(msg.data);
    if (event.type === "hello") {
      refreshFor("*");  // catch up on anything missed while away
      watched.forEach((_, sid) => subscribe(sid));
    } else refreshFor(event.type);
    if (!fresh(event)) return;
    document.dispatchEvent(new CustomEvent("polygent:event", { detail: event }));
  };
  ws.onclose = async (e) => {
    if (socket === ws) socket = null;
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
