// Settings → Providers: one card per provider with its on/off switch, its models (hide/show,
// custom ones added and removed) and the CLI version each session host reports. Every change
// is a PATCH /api/settings/providers/{id} with the whole list it changes; the card is redrawn
// from the answer, or keeps its state and shows the API's reason next to the controls.
import { api } from "./auth.js";
import { say, send } from "./admin.js";
import { el, problemText } from "./render.js";

function button(text, label, cls = "secondary") {
  const b = el("button", cls, text);
  b.type = "button";
  b.setAttribute("aria-label", label);
  return b;
}

function hostsTable(p) {
  const entries = Object.entries(p.hosts || {});
  if (!entries.length) return el("p", "empty", "No session host has registered yet.");
  const table = el("table", "clis");
  const head = el("tr");
  head.append(el("th", null, "Session host"), el("th", null, p.cli ? `${p.cli} version` : "CLI"));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  for (const [host, version] of entries) {
    const tr = el("tr");
    tr.dataset.host = host;
    tr.append(el("td", null, host), el("td", version ? null : "hint", version || "not installed"));
    table.tBodies[0].append(tr);
  }
  return table;
}

function modelList(p, catalog, manage, change) {
  const all = [...new Set([...(catalog[p.id] || []), ...p.custom_models, ...p.hidden_models])];
  const list = el("ul", "models");
  for (const m of all) {
    const hidden = p.hidden_models.includes(m);
    const li = el("li", hidden ? "hidden-model" : null);
    li.dataset.model = m;
    li.append(el("code", null, m));
    if (p.custom_models.includes(m)) li.append(el("span", "chip", "custom"));
    if (hidden) li.append(el("span", "badge off", "hidden"));
    if (manage) {
      const toggle = button(hidden ? "Show" : "Hide", `${hidden ? "Show" : "Hide"} ${m}`);
      toggle.addEventListener("click", () => change({
        hidden_models: hidden ? p.hidden_models.filter((x) => x !== m) : [...p.hidden_models, m],
      }));
      li.append(toggle);
      if (p.custom_models.includes(m)) {
        const remove = button("Remove", `Remove ${m}`, "danger");
        remove.addEventListener("click", () => change({
          custom_models: p.custom_models.filter((x) => x !== m),
          hidden_models: p.hidden_models.filter((x) => x !== m),
        }));
        li.append(remove);
      }
    }
    list.append(li);
  }
  return list;
}

function addForm(p, change) {
  const form = el("form", "inline add-model");
  const input = el("input");
  input.name = "model";
  input.maxLength = 200;
  input.placeholder = "Custom model id";
  input.setAttribute("aria-label", `Custom model for ${p.name}`);
  const submit = el("button", null, "Add model");
  submit.type = "submit";
  form.append(input, submit);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const m = input.value.trim();
    if (m) change({ custom_models: [...p.custom_models, m] });
  });
  return form;
}

function card(p, catalog, manage, note = "") {
  const art = el("article", "card provider");
  art.dataset.provider = p.id;
  const head = el("div", "card-head");
  head.append(el("h2", null, p.name));
  const message = el("p", "message");
  message.setAttribute("role", "status");
  message.textContent = note;
  const change = async (body, revert) => {
    art.querySelectorAll("button, input").forEach((c) => (c.disabled = true));
    const res = await send(`/api/settings/providers/${encodeURIComponent(p.id)}`, "PATCH", body);
    if (!res.ok) {
      const { text } = await problemText(res);
      revert?.();
      art.querySelectorAll("button, input").forEach((c) => (c.disabled = false));
      return say(message, text, true);
    }
    const out = await res.json();
    art.replaceWith(card({ ...out, hosts: p.hosts }, catalog, manage, "Saved."));
  };
  if (manage) {
    const label = el("label", "switch");
    const box = el("input");
    box.type = "checkbox";
    box.setAttribute("role", "switch");
    box.setAttribute("aria-label", `${p.name} on`);
    box.checked = p.enabled;
    box.addEventListener("change", () => change({ enabled: box.checked }, () => (box.checked = !box.checked)));
    label.append(box, el("span", null, p.enabled ? "On" : "Off"));
    head.append(label);
  } else {
    head.append(el("span", `badge ${p.enabled ? "on" : "off"}`, p.enabled ? "On" : "Off"));
  }
  const facts = `${p.cli ? `CLI: ${p.cli}` : "Built into the session agent"} · ${p.reports_usd ? "reports its cost in USD" : "cost from the price table"}`;
  art.append(head, el("p", "hint", facts), el("h3", null, "Models"), modelList(p, catalog, manage, change));
  if (manage) art.append(addForm(p, change));
  art.append(message, el("h3", null, "Session hosts"), hostsTable(p));
  return art;
}

export async function loadProviders(root, catalog, manage) {
  const list = root.querySelector("[data-provider-list]");
  const res = await api("/api/settings/providers");
  if (!res.ok) {
    const text = res.status === 403 ? "You may not see the provider settings." : (await problemText(res)).text;
    return list.replaceChildren(el("p", "message error", text));
  }
  const providers = await res.json();
  list.replaceChildren(...providers.map((p) => card(p, catalog, manage)));
}
