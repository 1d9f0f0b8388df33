// A typical app WITHOUT Lockstep (the baseline of bench/storm.mjs). Each tab on its own:
// tokens in localStorage, `Authorization` set by the app, on a 401 one refresh and one
// retry, then logout + its login page with a return URL. Tabs hear each other only through
// `storage` events. Pages: /plain/<anything> (the app), /plain/login?returnTo=… (login).
const $ = (id) => document.getElementById(id);
const KEY = "plain_tokens";
const config = await (await fetch("/lockstep.config.json")).json();
const API = config.apis[0].origin;
const onLogin = location.pathname === "/plain/login";
const tokens = () => JSON.parse(localStorage.getItem(KEY) ?? "null");

function toLogin() {
  location.replace(`/plain/login?returnTo=${encodeURIComponent(location.pathname + location.search)}`);
}

async function login(username = "ada", password = "lovelace") {
  const res = await fetch("/api/login", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) return res.status;
  localStorage.setItem(KEY, JSON.stringify(await res.json()));
  back();
  return res.status;
}

function back() {
  const to = new URLSearchParams(location.search).get("returnTo");
  // Same-origin app paths only.
  location.replace(to && to.startsWith("/plain/") && !to.startsWith("//") ? to : "/plain/");
}

async function refresh() {
  const rt = tokens()?.refresh_token;
  if (!rt) return false;
  const res = await fetch("/oauth/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: rt, client_id: "spa" }),
  });
  if (!res.ok) return false;
  const next = await res.json();
  localStorage.setItem(KEY, JSON.stringify({ ...tokens(), ...next }));
  return true;
}

let ended = false;
async function endSession() {
  if (ended) return;
  ended = true;
  const at = tokens()?.access_token;
  localStorage.removeItem(KEY);
  await fetch("/api/logout", { method: "POST", headers: at ? { authorization: `Bearer ${at}` } : {} }).catch(() => {});
  toLogin();
}

/** fetch with the bearer; on 401 one refresh and one retry, then the end of session. */
async function apiFetch(path) {
  const call = () => fetch(`${API}${path}`, { headers: { authorization: `Bearer ${tokens()?.access_token ?? ""}` } });
  let res = await call();
  if (res.status === 401) {
    if (await refresh()) res = await call();
    if (res.status === 401) await endSession();
  }
  return res;
}

const loop = { stop: false, statuses: {}, ok: 0 };
/** Bursts of `burst` parallel API calls until stopped or the session ended. */
async function startLoop(burst = 1) {
  loop.stop = false;
  while (!loop.stop && !ended) {
    const answers = await Promise.all(Array.from({ length: burst }, () => apiFetch("/v1/items").catch(() => null)));
    for (const res of answers) {
      const key = res ? String(res.status) : "error";
      loop.statuses[key] = (loop.statuses[key] ?? 0) + 1;
      if (res?.ok) loop.ok++;
    }
    $("calls").textContent = String(loop.ok);
  }
}

addEventListener("storage", (e) => {
  if (e.key !== KEY) return;
  if (onLogin && e.newValue) back();
  if (!onLogin && !e.newValue && !ended) {
    ended = true;
    toLogin();
  }
});

if (onLogin) {
  $("status").textContent = "logged-out";
  $("login").hidden = false;
  $("login").addEventListener("click", () => login());
} else if (!tokens()) {
  toLogin();
} else {
  $("status").textContent = "logged-in";
}
window.plain = { login, startLoop, loop, apiOrigin: API, loggedIn: () => tokens() !== null };
