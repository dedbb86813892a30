// Signed-in state for the dashboard. The access token lives in memory only; the page reads
// it from its HttpOnly access cookie (GET /auth/token, no rotation) and rotates the refresh
// token only when that cookie has expired. Tabs share new tokens and sign-outs over a
// BroadcastChannel; a Web Lock lets one tab rotate at a time, and inside the lock a tab first
// re-reads the cookie, which another tab may have just renewed.
const channel = "BroadcastChannel" in window ? new BroadcastChannel("polygent-auth") : null;
const HEADERS = { "X-Requested-With": "polygent" };
let accessToken = null;
let expiresAt = 0;
let pending = null;

function keep(body) {
  accessToken = body.access_token;
  expiresAt = Date.parse(body.expires_at);
  return accessToken;
}

channel?.addEventListener("message", (e) => {
  if (e.data.type === "token") keep(e.data.body);
  if (e.data.type === "signed-out") location.assign("/signin");
});

async function fromCookie() {
  const res = await fetch("/auth/token", { credentials: "same-origin", headers: HEADERS });
  return res.ok ? keep(await res.json()) : null;
}

async function rotate() {
  if (await fromCookie()) return accessToken;    // another tab renewed it while we waited
  for (let attempt = 0; attempt < 4; attempt++) {
    const res = await fetch("/auth/refresh", { method: "POST", credentials: "same-origin", headers: HEADERS });
    if (res.ok) {
      const body = await res.json();
      channel?.postMessage({ type: "token", body });
      return keep(body);
    }
    if (res.status !== 409) return null;         // 409: another tab rotated it just now
    await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    if (await fromCookie()) return accessToken;
  }
  return null;
}

// A usable access token, renewing the sign-in only when needed (once per tab at a time).
export async function refresh({ force = false } = {}) {
  if (!force && accessToken && expiresAt - Date.now() > 30_000) return accessToken;
  pending ??= (async () => {
    try {
      if (!force && (await fromCookie()) && expiresAt - Date.now() > 30_000) return accessToken;
      return navigator.locks ? await navigator.locks.request("polygent-refresh", rotate) : await rotate();
    } finally {
      pending = null;
    }
  })();
  return pending;
}

// fetch with the access token; one renewal and retry on 401.
export async function api(path, options = {}) {
  await refresh();
  const call = () => fetch(path, {
    ...options,
    credentials: "same-origin",
    headers: { ...(options.headers || {}), ...(accessToken ? { Authorization: `Bearer ${accessToken}` } : {}) },
  });
  let res = await call();
  if (res.status === 401 && (await refresh({ force: true }))) res = await call();
  if (res.status === 401) location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`);
  return res;
}

export async function signOut() {
  await fetch("/auth/logout", { method: "POST", credentials: "same-origin", headers: HEADERS });
  accessToken = null;
  channel?.postMessage({ type: "signed-out" });
  location.assign("/signin");
}

document.addEventListener("click", (e) => {
  if (e.target.closest("[data-sign-out]")) signOut();
});
