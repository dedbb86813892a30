// Best of N on a ticket's page: each finished candidate's changes (its session's changed
// files, each file's diff, or the whole content of a new file), fetched once per session and
// kept across the live re-renders of the page body.
import { api } from "./auth.js";
import { diffView, el } from "./render.js";

const cache = new Map();
const MAX_FILES = 20;

async function json(path) {
  const res = await api(path);
  return res.ok ? res.json() : null;
}

async function changes(sid) {
  const base = `/api/sessions/${encodeURIComponent(sid)}`;
  const status = await json(`${base}/git/status`);
  if (!status) return el("p", "hint", "The changes cannot be read (is the session's host online?).");
  const box = el("div", "candidate-files");
  if (!status.files.length) box.append(el("p", "hint", "No changed files."));
  for (const f of status.files.slice(0, MAX_FILES)) {
    box.append(el("h4", "path", f.path));
    const q = `path=${encodeURIComponent(f.path)}`;
    if (f.index === "?") {
      const file = await json(`${base}/files/content?${q}`);
      const added = (file?.content ?? "").split("\n").map((l) => `+${l}`).join("\n");
      box.append(diffView(file?.binary ? "(binary file)" : `new file\n${added}`));
      continue;
    }
    const diff = (await json(`${base}/git/diff?${q}`)) ?? {};
    const staged = diff.diff ? null : await json(`${base}/git/diff?${q}&staged=true`);
    box.append(diffView((diff.diff || staged?.diff) ?? ""));
  }
  return box;
}

export function showCandidateDiffs(root) {
  for (const slot of root.querySelectorAll("[data-candidate-diff]")) {
    const sid = slot.dataset.candidateDiff;
    if (!cache.has(sid)) cache.set(sid, changes(sid));
    cache.get(sid).then((node) => slot.replaceChildren(node.cloneNode(true)));
  }
}
