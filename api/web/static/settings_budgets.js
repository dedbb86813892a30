// Settings → Budgets: the global monthly budget and one per workspace the viewer sees, each
// with this month's spending (a bar that turns yellow past the warning line and red when
// spent) and, for those who may set budgets, a form to set or remove it.
import { api } from "./auth.js";
import { say, send } from "./admin.js";
import { el, money, problemText } from "./render.js";

function bar(b) {
  const used = Math.min(100, (b.spent_usd / b.monthly_usd) * 100);
  const level = b.remaining_usd <= 0 ? "over" : used >= b.warn_percent ? "warn" : "";
  const track = el("div", `bar ${level}`);
  track.setAttribute("role", "progressbar");
  track.setAttribute("aria-valuemin", "0");
  track.setAttribute("aria-valuemax", "100");
  track.setAttribute("aria-valuenow", String(Math.round(used)));
  track.setAttribute("aria-label", "Spent this month");
  const fill = el("span");
  fill.style.width = `${used}%`;
  track.append(fill);
  return track;
}

function field(label, name, attrs) {
  const wrap = el("label", null, label);
  const input = el("input");
  input.name = name;
  Object.assign(input, attrs);
  wrap.append(input);
  return wrap;
}

function form(scope, b, redraw) {
  const f = el("form", "stack budget-form");
  const blocking = el("label", "check");
  const box = el("input");
  box.type = "checkbox";
  box.name = "blocking";
  box.checked = b ? b.blocking : true;
  blocking.append(box, " Blocking");
  const save = el("button", null, b ? "Save budget" : "Set budget");
  save.type = "submit";
  const message = el("p", "message");
  message.setAttribute("role", "status");
  f.append(
    field("Monthly USD", "monthly_usd", { type: "number", min: "0", step: "any", required: true, value: b ? String(b.monthly_usd) : "" }),
    field("Warn at %", "warn_percent", { type: "number", min: "1", max: "100", step: "1", value: String(b ? b.warn_percent : 80) }),
    blocking, save,
  );
  const act = async (method, body) => {
    f.querySelectorAll("button, input").forEach((c) => (c.disabled = true));
    const res = await (body ? send(scope.url, method, body) : api(scope.url, { method }));
    if (res.ok) return redraw(res.status === 204 ? null : await res.json(), method === "DELETE" ? "Removed." : "Saved.");
    f.querySelectorAll("button, input").forEach((c) => (c.disabled = false));
    say(message, (await problemText(res)).text, true);
  };
  if (b) {
    const remove = el("button", "danger", "Remove budget");
    remove.type = "button";
    remove.addEventListener("click", () => confirm(`Remove the budget of ${scope.name}?`) && act("DELETE"));
    f.append(remove);
  }
  f.append(message);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    const v = f.elements;
    act("PUT", { monthly_usd: Number(v.monthly_usd.value), warn_percent: Number(v.warn_percent.value || 80), blocking: v.blocking.checked });
  });
  return f;
}

function card(scope, b, manage, note = "") {
  const art = el("article", "card budget");
  art.dataset.budget = scope.id;
  const title = el("h2");
  if (scope.href) {
    const link = el("a", null, scope.name);
    link.href = scope.href;
    title.append(link);
  } else title.textContent = scope.name;
  art.append(title);
  if (b) {
    art.append(
      el("p", "limit", `${money(b.monthly_usd)} a month · warn at ${b.warn_percent}% · ${b.blocking ? "blocking" : "not blocking"}`),
      el("p", "spent", `Spent ${money(b.spent_usd)} · Remaining ${money(b.remaining_usd)} in ${b.month}`),
      bar(b),
    );
  } else art.append(el("p", "empty", "No budget."));
  const redraw = (fresh, text) => art.replaceWith(card(scope, fresh, manage, text));
  if (manage) art.append(form(scope, b, redraw));
  else if (note) art.append(el("p", "message", note));
  if (manage && note) say(art.querySelector(".message"), note);
  return art;
}

export async function loadBudgets(root, workspaces, manage) {
  const list = root.querySelector("[data-budget-list]");
  const res = await api("/api/budgets");
  if (!res.ok) {
    const text = res.status === 403 ? "You may not see budgets." : (await problemText(res)).text;
    return list.replaceChildren(el("p", "message error", text));
  }
  const budgets = await res.json();
  const scopes = [
    { id: "global", name: "Global", url: "/api/budgets/global", budget: budgets.find((b) => b.scope === "global") },
    ...workspaces.map((w) => ({
      id: w.id, name: w.name, href: `/workspaces/${encodeURIComponent(w.id)}`,
      url: `/api/workspaces/${encodeURIComponent(w.id)}/budget`,
      budget: budgets.find((b) => b.workspace_id === w.id),
    })),
  ];
  list.replaceChildren(...scopes.map((s) => card(s, s.budget ?? null, manage)));
}
