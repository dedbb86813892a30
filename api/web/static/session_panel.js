// The session's side panel: Files (tree, view, edit, save), Git (status with stage, unstage
// and discard per file, diffs, commit, push, pull from and merge to the starter branch, with
// conflict lists) and Hooks (runs with their output). Everything is read from and written to
// the session panel API; file contents and diffs are shown as text, never as markup.
import { api } from "./auth.js";
import { diffView, el, problemText } from "./render.js";

const page = document.querySelector(".session-page[data-session]");
const root = page?.querySelector("[data-panel-root]");
if (root) start();

function start() {
  const base = `/api/sessions/${encodeURIComponent(page.dataset.session)}`;
  const canEdit = "canEdit" in page.dataset;
  const q = (sel) => root.querySelector(sel);
  const json = (body) => ({ method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  let current = "files";

  // -- tabs -----------------------------------------------------------------------------------
  const loaders = { files: () => listDir("", q("[data-tree]")), git: gitStatus, hooks: hookRuns };
  const loaded = new Set();
  function show(name) {
    current = name;
    root.querySelectorAll("[data-ptab]").forEach((t) => t.setAttribute("aria-selected", String(t.dataset.ptab === name)));
    root.querySelectorAll("[data-ppanel]").forEach((p) => (p.hidden = p.dataset.ppanel !== name));
    if (name !== "files" || !loaded.has(name)) loaders[name]();
    loaded.add(name);
  }
  root.querySelectorAll("[data-ptab]").forEach((t) => t.addEventListener("click", () => show(t.dataset.ptab)));

  // -- files ----------------------------------------------------------------------------------
  // Each listing of a folder supersedes the one before: a slow early answer ("no worktree
  // yet") must not overwrite the tree a later request already showed.
  async function listDir(path, into) {
    const generation = (into.polygentListing = (into.polygentListing || 0) + 1);
    const res = await api(`${base}/files?path=${encodeURIComponent(path)}`);
    const stale = () => generation !== into.polygentListing;
    if (stale()) return;
    if (!res.ok) {
      into.replaceChildren(el("p", "empty", res.status === 409 || res.status === 404
        ? "The worktree is shown once a host has it." : (await problemText(res)).text));
      return;
    }
    const data = await res.json();
    if (stale()) return;
    const ul = el("ul", "tree");
    const entries = [...(data.entries || [])].sort((a, b) =>
      a.type === b.type ? a.name.localeCompare(b.name) : a.type === "dir" ? -1 : 1);
    for (const entry of entries) {
      const li = el("li", entry.type);
      if (entry.type === "dir") {
        const d = el("details");
        d.append(el("summary", null, `${entry.name}/`));
        const inner = el("div", "inner");
        d.append(inner);
        d.addEventListener("toggle", () => d.open && !inner.childElementCount && listDir(entry.path, inner));
        li.append(d);
      } else {
        const b = el("button", "link file", entry.name);
        b.type = "button";
        b.dataset.path = entry.path;
        b.addEventListener("click", () => openFile(entry.path));
        li.append(b);
      }
      ul.append(li);
    }
    if (!entries.length) ul.append(el("li", "empty", "(empty)"));
    into.replaceChildren(ul);
  }

  const view = q("[data-file-view]");
  const fileMessage = q("[data-file-message]");
  async function openFile(path) {
    const res = await api(`${base}/files/content?path=${encodeURIComponent(path)}`);
    view.hidden = false;
    q("[data-file-path]").textContent = path;
    view.dataset.path = path;
    fileMessage.classList.remove("error");
    const area = q("[data-file-content]");
    const save = q("[data-file-save]");
    if (!res.ok) {
      area.value = "";
      fileMessage.textContent = (await problemText(res)).text;
      fileMessage.classList.add("error");
      return;
    }
    const data = await res.json();
    const hidden = data.binary || data.too_large;
    area.value = hidden ? "" : data.content ?? "";
    area.readOnly = !canEdit || hidden;
    if (save) save.disabled = Boolean(hidden);
    fileMessage.textContent = data.binary ? `Binary file (${data.size} bytes); not shown.`
      : data.too_large ? `Too large to show here (${data.size} bytes).` : "";
  }
  q("[data-file-close]").addEventListener("click", () => (view.hidden = true));
  q("[data-file-save]")?.addEventListener("click", async () => {
    const res = await api(`${base}/files/content`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ path: view.dataset.path, content: q("[data-file-content]").value }),
    });
    fileMessage.classList.toggle("error", !res.ok);
    fileMessage.textContent = res.ok ? "Saved." : (await problemText(res)).text;
    if (res.ok && current === "git") gitStatus();
  });

  // -- git ------------------------------------------------------------------------------------
  const gitMessage = q("[data-git-message]");
  const conflicts = q("[data-conflicts]");
  function report(text, error, files = []) {
    gitMessage.textContent = text;
    gitMessage.classList.toggle("error", error);
    conflicts.hidden = !files.length;
    conflicts.replaceChildren(...files.map((f) => el("li", null, f.path ?? f)));
  }

  async function gitStatus() {
    const list = q("[data-git-files]");
    const res = await api(`${base}/git/status`);
    if (!res.ok) {
      list.replaceChildren(el("li", "empty", (await problemText(res)).text));
      return;
    }
    const s = await res.json();
    const counts = [s.ahead ? `${s.ahead} ahead` : "", s.behind ? `${s.behind} behind` : ""].filter(Boolean).join(", ");
    q("[data-git-branch]").textContent = `On ${s.branch ?? "?"}${counts ? ` (${counts})` : ""}`;
    if (!s.files?.length) return list.replaceChildren(el("li", "empty", "No changes."));
    list.replaceChildren(...s.files.map((f) => {
      const li = el("li", f.staged ? "staged" : "");
      const code = el("code", "flags", `${f.index ?? " "}${f.worktree ?? " "}`);
      const name = el("button", "link path", f.path);
      name.type = "button";
      name.addEventListener("click", () => diff(f.path, f.staged));
      li.append(code, " ", name);
      if (canEdit) {
        const actions = el("span", "actions");
        const act = (label, verb, cls = "secondary", ask = null) => {
          const b = el("button", cls, label);
          b.type = "button";
          b.addEventListener("click", () => git(verb, { paths: [f.path] }, ask && `${ask} ${f.path}?`));
          actions.append(b);
        };
        if (f.staged) act("Unstage", "unstage");
        else act("Stage", "stage");
        act("Discard", "discard", "danger", "Discard the changes to");
        li.append(actions);
      }
      return li;
    }));
  }

  async function diff(path, staged) {
    const res = await api(`${base}/git/diff?path=${encodeURIComponent(path)}&staged=${staged ? "true" : "false"}`);
    const box = q("[data-diff]");
    if (!res.ok) return box.replaceChildren(el("p", "error", (await problemText(res)).text));
    const data = await res.json();
    const head = el("div", "file-head");
    head.append(el("code", null, path));
    box.replaceChildren(head, data.diff ? diffView(data.diff) : el("p", "empty", "No differences."));
  }

  async function git(verb, body, ask) {
    if (ask && !confirm(ask)) return false;
    report(`${verb[0].toUpperCase()}${verb.slice(1)}…`, false);
    const res = await api(`${base}/git/${verb}`, json(body ?? {}));
    if (!res.ok) {
      const { text, body: problem } = await problemText(res);
      const files = problem?.conflicts || problem?.conflicted_files || problem?.files || [];
      report(text, true, Array.isArray(files) ? files : []);
      return false;
    }
    const data = await res.json().catch(() => ({}));
    report(data.message || "Done.", false);
    gitStatus();
    return true;
  }

  q("[data-commit]")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    if (await git("commit", { message: form.elements.message.value })) form.reset();
  });
  root.querySelectorAll("[data-git]").forEach((b) => b.addEventListener("click", () => git(b.dataset.git, {}, b.dataset.confirm)));

  // -- hooks ----------------------------------------------------------------------------------
  async function hookRuns() {
    const list = q("[data-hook-runs]");
    const res = await api(`${base}/hook-runs`);
    if (!res.ok) return list.replaceChildren(el("li", "empty", (await problemText(res)).text));
    const items = (await res.json()).items || [];
    if (!items.length) return list.replaceChildren(el("li", "empty", "No hook runs yet."));
    list.replaceChildren(...items.map((r) => {
      const d = el("details", r.ok ? "hook" : "hook failed");
      const when = r.started_at ? new Date(r.started_at).toLocaleString() : "";
      const exit = r.timed_out ? " · timed out" : r.exit_code === null || r.exit_code === undefined ? "" : ` · exit ${r.exit_code}`;
      d.append(el("summary", null, `${r.name ?? r.hook_id} (${r.event}) ${r.ok ? "ok" : "failed"}${exit} · ${when}`));
      d.append(el("pre", null, r.output || "(no output)"));
      const li = el("li");
      li.append(d);
      return li;
    }));
  }
  q("[data-hooks-refresh]").addEventListener("click", hookRuns);

  // After a turn or a hook, the open tab refreshes (files only on demand: edits in progress).
  document.addEventListener("polygent:transcript", (e) => {
    const kinds = new Set(e.detail.map((x) => x.kind));
    const tree = q("[data-tree]");
    const progressed = kinds.has("tool_use") || kinds.has("tool_result") || kinds.has("result");
    if (!tree.querySelector(".tree") && progressed) listDir("", tree);
    if (current === "git" && (kinds.has("result") || kinds.has("tool_result"))) gitStatus();
    if (current === "hooks" && e.detail.some((x) => x.data?.subtype === "hook")) hookRuns();
  });

  show("files");
}
