// Signed-in state for the dashboard. The access token lives in memory only; the refresh
// token is an HttpOnly cookie. Tabs share new tokens and sign-outs over a BroadcastChannel,
// and a Web Lock makes sure only one tab refreshes at a time.
const channel = "BroadcastChannel" in window ? new BroadcastChannel("polygent-auth") : null;
let accessToken = null;

channel?.addEventListener("message", (e) => {
  if (e.data.type === "token") accessToken = e.data.token;
  if (e.data.type === "signed-out") location.assign("/signin");
});

async function doRefresh() {
  for (let attempt = 0; attempt < 4; attempt++) {
    const res = await fetch("/auth/refresh", {
      method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "polygent" },
    });
    if (res.ok) {
      accessToken = (await res.json()).access_token;
      channel?.postMessage({ type: "token", token: accessToken });
      return accessToken;
    }
    if (res.status !== 409) return null;       // 409: another tab rotated it just now
    await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
  }
  return null;
}

export async function refresh() {
  if (navigator.locks) return navigator.locks.request("polygent-refresh", doRefresh);
  return doRefresh();
}

// fetch with the access token; one refresh and retry on 401.
export async function api(path, options = {}) {
  if (!accessToken) await refresh();
  const call = () => fetch(path, {
    ...options,
    credentials: "same-origin",
    headers: { ...(options.headers || {}), ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}) },
  });
  let res = await call();
  if (res.status === 401 && (await refresh())) res = await call();
  if (res.status === 401) location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`);
  return res;
}

export async function signOut() {
  await fetch("/auth/logout", { method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "polygent" } });
  accessToken = null;
  channel?.postMessage({ type: "signed-out" });
  location.assign("/signin");
}

document.addEventListener("click", (e) => {
  if (e.target.closest("[data-sign-out]")) signOut();
});
