// Settings → Prices: the effective table (built-in prices with overrides on top). One form sets
// a price for any model id or pattern (a row's Edit fills it in); an override's Reset (or
// Remove, when there is no built-in price under it) deletes it.
import { api } from "./auth.js";
import { say, send } from "./admin.js";
import { el, problemText } from "./render.js";

const COLUMNS = [["input", "Input"], ["output", "Output"], ["cache_read", "Cache read"], ["cache_write", "Cache write"]];

function cell(label, text, cls) {
  const td = el("td", cls, text);
  td.dataset.label = label;
  return td;
}

function row(price, ctx) {
  const tr = el("tr");
  tr.dataset.price = price.model;
  const model = cell("Model", null);
  model.append(el("code", null, price.model));
  tr.append(model, ...COLUMNS.map(([key, label]) => cell(label, `$${+price[key].toFixed(4)}`, "num")));
  tr.append(cell("Source", price.default ? "built in" : "override", price.default ? "hint" : null));
  if (!ctx.manage) return tr;
  const actions = el("td", "actions");
  const edit = el("button", "secondary", "Edit");
  edit.type = "button";
  edit.setAttribute("aria-label", `Edit ${price.model}`);
  edit.addEventListener("click", () => ctx.fill(price));
  actions.append(edit);
  if (!price.default) {
    const builtIn = ctx.defaults.has(price.model);
    const reset = el("button", "danger", builtIn ? "Reset to default" : "Remove");
    reset.type = "button";
    reset.setAttribute("aria-label", `${builtIn ? "Reset" : "Remove"} ${price.model}`);
    const message = el("span", "message");
    reset.addEventListener("click", async () => {
      reset.disabled = true;
      const res = await api(`/api/settings/prices?model=${encodeURIComponent(price.model)}`, { method: "DELETE" });
      if (res.ok) return ctx.reload();
      reset.disabled = false;
      say(message, (await problemText(res)).text, true);
    });
    actions.append(" ", reset, message);
  }
  tr.append(actions);
  return tr;
}

export async function loadPrices(root, data, manage) {
  const panel = root.querySelector("#panel-prices");
  const body = panel.querySelector("[data-price-rows]");
  const form = panel.querySelector("[data-price-form]");
  const defaults = new Set(data.default_prices);
  const ctx = {
    manage: manage && Boolean(form),
    defaults,
    fill(price) {
      for (const key of ["model", ...COLUMNS.map(([k]) => k)]) form.elements[key].value = price[key];
      say(form.querySelector(".message"), "");
      form.elements.input.focus();
    },
    async reload() {
      const res = await api("/api/settings/prices");
      if (!res.ok) {
        form?.remove();
        const td = el("td", "message error", res.status === 403 ? "You may not see the price table." : (await problemText(res)).text);
        td.colSpan = 7;
        const tr = el("tr");
        tr.append(td);
        return body.replaceChildren(tr);
      }
      body.replaceChildren(...(await res.json()).map((p) => row(p, ctx)));
    },
  };
  if (form) {
    const known = new Set([...defaults, ...Object.values(data.catalog).flat()]);
    form.querySelector("datalist").replaceChildren(...[...known].sort().map((m) => {
      const option = el("option");
      option.value = m;
      return option;
    }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const f = form.elements;
      const message = form.querySelector(".message");
      const price = {};
      for (const [key] of COLUMNS) if (f[key].value !== "") price[key] = Number(f[key].value);
      const model = f.model.value.trim();
      const res = await send(`/api/settings/prices?model=${encodeURIComponent(model)}`, "PUT", price);
      if (!res.ok) return say(message, (await problemText(res)).text, true);
      say(message, `Saved the price of ${model}.`);
      await ctx.reload();
    });
  }
  await ctx.reload();
}
