// The session transcript: one element per stored event, built from untrusted data with
// textContent only. Tool results are paired with their call by tool_id; events of an attempt
// that a later attempt of the same turn replaced are marked as interrupted.
import { el, markdown, money } from "./render.js";

const STATUS = { waiting: "Waiting", in_progress: "In progress", done: "Done", canceled: "Canceled" };

function toolSummary(name, input) {
  const i = input || {};
  const hint = i.command ?? i.file_path ?? i.path ?? i.pattern ?? i.url ?? i.description ?? "";
  return hint ? `${name}: ${String(hint).split("\n")[0].slice(0, 120)}` : name;
}

function collapsible(cls, summary, body, open = false) {
  const d = el("details", cls);
  d.open = open;
  d.append(el("summary", null, summary), body);
  return d;
}

function usageLine(u, cost) {
  const parts = [`${u.input ?? 0} in`, `${u.output ?? 0} out`];
  if (u.cache_read) parts.push(`${u.cache_read} cache read`);
  if (u.cache_write) parts.push(`${u.cache_write} cache write`);
  if (cost !== undefined && cost !== null) parts.push(money(cost));
  return parts.join(" · ");
}

export class Transcript {
  constructor(root, { onTodos } = {}) {
    this.root = root;
    this.onTodos = onTodos;
    this.last = 0;            // highest cursor rendered
    this.tools = new Map();   // tool_id -> the call's element
    this.messages = new Map(); // message_id -> the last text element of that model message
    this.usages = new Map();   // message_id -> its usage line (CLIs report it before the text)
    this.attempts = new Map(); // "turn" -> highest attempt seen
    this.divider = null;
    this.todos = [];
    this.created = 0;  // TaskCreate numbers its tasks 1, 2, ... per conversation
  }

  // The todo list after this event: TodoWrite replaces it, TaskCreate adds, TaskUpdate edits.
  todo(d) {
    const items = d.todos || [];
    if (d.subtype === "create") {
      for (const t of items) this.todos.push({ ...t, id: t.id || String(++this.created) });
    } else if (d.subtype === "update") {
      for (const t of items) {
        const found = this.todos.find((x) => x.id && x.id === t.id);
        if (found) Object.assign(found, t.content ? t : { status: t.status });
        else this.todos.push(t);
      }
    } else this.todos = items;
    this.todos = this.todos.filter((t) => t.status !== "deleted");
    return this.todos;
  }

  // Render events in cursor order, skipping any already shown. Returns the ones rendered.
  add(events, readCursor = null) {
    const fresh = events.filter((e) => e.cursor > this.last).sort((a, b) => a.cursor - b.cursor);
    const stick = this.atBottom();
    for (const e of fresh) {
      this.last = e.cursor;
      if (readCursor !== null && readCursor > 0 && !this.divider && e.cursor > readCursor) {
        this.divider = el("div", "new-divider", "New");
        this.divider.setAttribute("role", "separator");
        this.root.append(this.divider);
      }
      this.supersede(e);
      const node = this.render(e);
      if (!node) continue;
      node.dataset.cursor = e.cursor;
      node.dataset.turn = e.turn;
      node.dataset.attempt = e.attempt;
      this.root.append(node);
    }
    if (fresh.length) this.root.querySelector("[data-empty]")?.remove();
    if (stick && fresh.length) this.root.scrollTop = this.root.scrollHeight;
    return fresh;
  }

  atBottom() {
    return this.root.scrollHeight - this.root.scrollTop - this.root.clientHeight < 80;
  }

  supersede(e) {
    if (e.attempt < 1) return;
    const seen = this.attempts.get(e.turn) ?? 0;
    if (e.attempt > seen && seen >= 1) {
      this.root.querySelectorAll(`[data-turn="${e.turn}"]`).forEach((n) => {
        if (Number(n.dataset.attempt) >= 1 && Number(n.dataset.attempt) < e.attempt) n.classList.add("interrupted");
      });
    }
    this.attempts.set(e.turn, Math.max(seen, e.attempt));
  }

  render(e) {
    const d = e.data || {};
    switch (e.kind) {
      case "user": return this.user(d);
      case "text": return this.text(d);
      case "thinking": return collapsible("thinking", "Thinking", el("div", "pre", d.text ?? ""));
      case "tool_call": return this.toolCall(d);
      case "tool_result": return this.toolResult(d);
      case "todo":
        this.onTodos?.(this.todo(d));
        return null;  // shown in the sidebar; the tool call is in the transcript
      case "usage": return this.usage(d);
      case "result": return this.result(d);
      case "error": return el("div", "notice error", d.text || "The agent reported an error.");
      case "system": return this.system(d);
      case "raw": return collapsible("raw", "Raw output", el("pre", null, d.raw ?? JSON.stringify(d)));
      default: return el("div", "notice", `${e.kind} event`);
    }
  }

  user(d) {
    const box = el("div", "msg user");
    box.append(el("div", "who", d.author || "You"), markdown(d.text ?? ""));
    if (d.attachments?.length) {
      const list = el("ul", "attachments");
      for (const a of d.attachments) list.append(el("li", "badge", a.name ?? a.id));
      box.append(list);
    }
    return box;
  }

  text(d) {
    const box = el("div", "msg agent");
    box.append(markdown(d.text ?? ""));
    if (d.message_id) {
      this.messages.set(d.message_id, box);
      const usage = this.usages.get(d.message_id);
      if (usage) box.append(usage);  // moved from where it arrived into its message
    }
    return box;
  }

  toolCall(d) {
    const body = el("div", "tool-body");
    body.append(el("pre", "input", JSON.stringify(d.tool_input ?? {}, null, 2)));
    const result = el("div", "tool-result pending", "Running…");
    body.append(result);
    const node = collapsible("tool", toolSummary(d.tool_name ?? "tool", d.tool_input), body);
    node.dataset.toolId = d.tool_id ?? "";
    if (d.tool_id) this.tools.set(d.tool_id, node);
    return node;
  }

  toolResult(d) {
    const content = typeof d.content === "string" ? d.content : JSON.stringify(d.content ?? "");
    const call = d.tool_id ? this.tools.get(d.tool_id) : null;
    if (call) {
      const slot = call.querySelector(".tool-result");
      slot.className = `tool-result${d.is_error ? " error" : ""}`;
      slot.replaceChildren(el("pre", null, content || "(no output)"));
      call.classList.toggle("failed", Boolean(d.is_error));
      call.classList.add("done");
      return null;
    }
    return collapsible(`tool${d.is_error ? " failed" : ""}`, "Tool result", el("pre", null, content));
  }

  usage(d) {
    const line = el("div", "usage", usageLine(d.usage || {}, d.cost_usd));
    if (d.message_id) this.usages.set(d.message_id, line);
    const target = d.message_id && this.messages.get(d.message_id);
    if (target) {
      target.querySelector(".usage")?.remove();
      target.append(line);
      return null;
    }
    return line;
  }

  result(d) {
    const ok = !d.subtype || d.subtype === "success";
    const parts = [ok ? "Turn finished" : `Turn ended: ${d.subtype}`];
    if (d.data?.num_turns) parts.push(`${d.data.num_turns} model turns`);
    if (d.usage) parts.push(usageLine(d.usage));
    if (d.cost_usd !== undefined && d.cost_usd !== null) parts.push(money(d.cost_usd));
    return el("div", `notice result${ok ? "" : " error"}`, parts.join(" · "));
  }

  system(d) {
    switch (d.subtype) {
      case "status":
        return el("div", "notice status", `Status: ${STATUS[d.status] ?? d.status ?? d.text ?? ""}`);
      case "interrupted":
        return el("div", "notice warn", d.text || "The turn was interrupted; it resumes where it was.");
      case "reset":
        return el("div", "notice", d.text || "Context reset: the agent starts a fresh conversation.");
      case "hook": {
        const title = `Hook ${d.hook ?? ""} (${d.event ?? ""}): ${d.ok ? "ok" : "failed"}`;
        return collapsible(`hook${d.ok ? "" : " failed"}`, title, el("pre", null, d.output ?? d.text ?? ""));
      }
      case "init": {
        const info = d.data || {};
        const parts = ["Agent started", info.model, info.version && `version ${info.version}`];
        return el("div", "notice", parts.filter(Boolean).join(" · "));
      }
      case "host_offline":
        return el("div", "notice warn", d.text || "The session's host went offline.");
      default:
        return el("div", "notice", d.text ?? d.subtype ?? "System event");
    }
  }
}
