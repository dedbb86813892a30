// A server-rendered fragment kept current: fetched again (debounced) when a live event it
// cares about arrives, after a reconnect ("hello"), and every few seconds while the tab is
// visible, because events from an orchestrator worker in another process never reach the
// API's bus. The fragment is HTML the server escaped, so it can replace the element's content.
import { api } from "./auth.js";
import "./live.js";

const POLL_MS = 5000;

export function liveFragment(box, src, { wants = () => true, after = () => {} } = {}) {
  let timer = null;
  let running = null;
  let again = false;
  let last = null;

  async function load() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        const res = await api(typeof src === "function" ? src() : src, { headers: { Accept: "text/html" } });
        const html = res.ok ? await res.text() : null;
        if (html !== null && html !== last) {  // unchanged: leave the DOM (and selection) be
          last = html;
          box.innerHTML = html;
          after(box);
        }
      } catch {
        // offline for a moment: the next event or poll tries again
      } finally {
        running = null;
        if (again) {
          again = false;
          load();
        }
      }
    })();
    return running;
  }

  const soon = (delay = 250) => {
    clearTimeout(timer);
    timer = setTimeout(load, delay);
  };
  document.addEventListener("polygent:event", (e) => {
    const ev = e.detail;
    if (ev.type === "hello" || wants(ev)) soon();
  });
  setInterval(() => document.visibilityState === "visible" && load(), POLL_MS);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && soon(0));
  return { load, soon };
}

// Upload each chosen file to the ticket; their attachment ids, or a problem for the person.
export async function upload(ticketId, input) {
  const ids = [];
  for (const file of input?.files ?? []) {
    if (file.size > 10 * 1024 * 1024) throw new Error(`${file.name} is larger than 10 MB.`);
    const body = new FormData();
    body.append("file", file);
    const res = await api(`/api/tickets/${encodeURIComponent(ticketId)}/attachments`, { method: "POST", body });
    if (!res.ok) {
      const problem = await res.json().catch(() => ({}));
      throw new Error(problem.detail || `Upload of ${file.name} failed (${res.status}).`);
    }
    ids.push((await res.json()).id);
  }
  return ids;
}
