// The settings page: tabs (the open one lives in the URL hash), and each tab's module, which
// reads its part from the JSON API and writes through it. The server renders only the tabs the
// viewer may see; a 403 from the API hides a panel's controls all the same.
import { loadProviders } from "./settings_providers.js";
import { loadPrices } from "./settings_prices.js";
import { loadBudgets } from "./settings_budgets.js";

const root = document.querySelector("[data-settings]");
const data = JSON.parse(document.getElementById("settings-data").textContent);
const tabs = [...root.querySelectorAll('[role="tab"]')];
const loaders = {
  providers: () => loadProviders(root, data.catalog, "manageSettings" in root.dataset),
  prices: () => loadPrices(root, data, "manageSettings" in root.dataset),
  budgets: () => loadBudgets(root, data.workspaces, "manageBudgets" in root.dataset),
};
const loaded = new Set();

function show(tab) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
  }
  const name = tab.id.replace("tab-", "");
  history.replaceState(null, "", `#${name}`);
  if (!loaded.has(name)) {
    loaded.add(name);
    loaders[name]();
  }
}

tabs.forEach((t) => t.addEventListener("click", () => show(t)));
if (tabs.length) show(document.getElementById(`tab-${location.hash.slice(1)}`) || tabs[0]);
