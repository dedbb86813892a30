// Safe rendering of untrusted text (agent output, file contents, diffs): everything goes
// through createElement and textContent, never innerHTML, so no markup in the data is live.

// An element with optional class and text: el("span", "badge", "done").
export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// Inline markdown: `code`, **bold**, and http(s) links; everything else is plain text.
function inline(parent, text) {
  const pattern = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(https?:\/\/[^\s<>()"']+[^\s<>()"'.,;:!?])/g;
  let at = 0;
  for (const m of text.matchAll(pattern)) {
    if (m.index > at) parent.append(text.slice(at, m.index));
    if (m[1]) parent.append(el("code", null, m[1].slice(1, -1)));
    else if (m[2]) parent.append(el("strong", null, m[2].slice(2, -2)));
    else {
      const a = el("a", null, m[3]);
      a.href = m[3];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      parent.append(a);
    }
    at = m.index + m[0].length;
  }
  if (at < text.length) parent.append(text.slice(at));
}

// Markdown-ish text as DOM: fenced code blocks, headings, bullet lists and paragraphs.
export function markdown(text) {
  const root = el("div", "md");
  const parts = String(text ?? "").split(/^```[^\n]*\n?/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {  // inside a fence
      const pre = el("pre", "code");
      pre.append(el("code", null, part.replace(/\n$/, "")));
      root.append(pre);
      return;
    }
    for (const block of part.split(/\n{2,}/)) {
      if (!block.trim()) continue;
      const lines = block.split("\n");
      const heading = /^(#{1,6})\s+(.*)$/.exec(lines[0]);
      if (heading && lines.length === 1) {
        const h = el(`h${Math.min(heading[1].length + 2, 6)}`);
        inline(h, heading[2]);
        root.append(h);
      } else if (lines.every((l) => /^\s*([-*]|\d+\.)\s+/.test(l))) {
        const list = el(/^\s*\d+\./.test(lines[0]) ? "ol" : "ul");
        for (const l of lines) {
          const li = el("li");
          inline(li, l.replace(/^\s*([-*]|\d+\.)\s+/, ""));
          list.append(li);
        }
        root.append(list);
      } else {
        const p = el("p");
        lines.forEach((l, k) => {
          if (k) p.append(el("br"));
          inline(p, l);
        });
        root.append(p);
      }
    }
  });
  return root;
}

// A unified diff with one classed line per row (+ added, - removed, @@ hunk).
export function diffView(diff) {
  const pre = el("pre", "diff");
  for (const line of String(diff ?? "").split("\n")) {
    let cls = "ctx";
    if (line.startsWith("@@")) cls = "hunk";
    else if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ")) cls = "head";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    pre.append(el("span", cls, `${line}\n`));
  }
  return pre;
}

export function money(usd) {
  if (usd === null || usd === undefined) return "";
  return usd < 0.01 && usd > 0 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

export function ago(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

export const STATUS_LABELS = {
  waiting: "Waiting", in_progress: "In progress", done: "Done", canceled: "Canceled",
};
export const STATUS_CLASS = { waiting: "", in_progress: "run", done: "on", canceled: "off" };

// A problem+json answer as one line for the person (409 conflict lists included).
export async function problemText(res) {
  const body = await res.json().catch(() => null);
  let text = body?.detail || body?.title || `Failed (${res.status}).`;
  const files = body?.conflicts || body?.conflicted_files || body?.files;
  if (Array.isArray(files) && files.length) text += ` Conflicts: ${files.map((f) => f.path ?? f).join(", ")}`;
  return { text, body };
}

export function randomId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
