// @-mentions of worktree files in the composer: typing `@` opens a picker fed by the session's
// directory listings; a directory opens its listing, a file inserts `@path `.
import { api } from "./auth.js";
import { el } from "./render.js";

const TOKEN = /(^|\s)@([^\s@]*)$/;

export function mentions(textarea, list, sessionId) {
  let items = [];
  let active = 0;
  let token = null;  // {start, end, dir, rest}
  let request = 0;

  const close = () => {
    list.hidden = true;
    textarea.setAttribute("aria-expanded", "false");
    token = null;
  };

  function find() {
    const before = textarea.value.slice(0, textarea.selectionStart);
    const m = TOKEN.exec(before);
    if (!m) return null;
    const typed = m[2];
    const slash = typed.lastIndexOf("/");
    return {
      start: before.length - typed.length - 1,
      end: textarea.selectionStart,
      dir: slash >= 0 ? typed.slice(0, slash) : "",
      rest: typed.slice(slash + 1).toLowerCase(),
    };
  }

  function show() {
    list.replaceChildren();
    items.forEach((entry, i) => {
      const li = el("li", entry.type === "dir" ? "dir" : "file", entry.type === "dir" ? `${entry.path}/` : entry.path);
      li.setAttribute("role", "option");
      li.id = `mention-${i}`;
      li.setAttribute("aria-selected", String(i === active));
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();  // keep the textarea's focus and caret
        choose(i);
      });
      list.append(li);
    });
    if (!items.length) list.append(el("li", "empty", "No matching files."));
    list.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
  }

  async function update() {
    token = find();
    if (!token) return close();
    const mine = ++request;
    const res = await api(`/api/sessions/${encodeURIComponent(sessionId)}/files?path=${encodeURIComponent(token.dir)}`);
    if (mine !== request || !token) return;
    if (!res.ok) {
      items = [];
      list.replaceChildren(el("li", "empty", res.status === 409 ? "The worktree is not ready yet." : "Files are not available."));
      list.hidden = false;
      return;
    }
    const data = await res.json();
    items = (data.entries || [])
      .filter((e) => e.name.toLowerCase().startsWith(token.rest))
      .sort((a, b) => (a.type === b.type ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1))
      .slice(0, 50);
    active = 0;
    show();
  }

  function choose(i) {
    const entry = items[i];
    if (!entry || !token) return;
    const insert = entry.type === "dir" ? `@${entry.path}/` : `@${entry.path} `;
    const v = textarea.value;
    textarea.value = v.slice(0, token.start) + insert + v.slice(token.end);
    const caret = token.start + insert.length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
    if (entry.type === "dir") update();
    else close();
  }

  textarea.addEventListener("input", update);
  textarea.addEventListener("blur", () => setTimeout(close, 150));
  textarea.addEventListener("keydown", (e) => {
    if (list.hidden || !items.length) {
      if (e.key === "Escape") close();
      return;
    }
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      show();
    } else if (e.key === "Enter" || e.key === "Tab") {
      e.preventDefault();
      choose(active);
    } else if (e.key === "Escape") {
      e.preventDefault();
      close();
    }
  });
}
