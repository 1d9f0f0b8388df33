// The demo micro-app (app1 and app2 share it). Everything Lockstep-specific is the
// import and `Lockstep.start`; API calls are plain fetch with no Authorization header.
import { Lockstep } from "/lockstep/lockstep-client.js";

const $ = (id) => document.getElementById(id);

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function formatRemaining(ms) {
  if (!Number.isFinite(ms)) return "–";
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** Why a session ended, in words (`state.reason`). */
const REASONS = {
  logout: "Log out was pressed (in some tab)",
  idle: "no activity in any tab for the idle timeout",
  unauthorized: "the API refused the token (401)",
  "refresh-failed": "the token was refused and could not be refreshed",
  expired: "the token expired",
  elsewhere: "logged out in another app",
};

// Which host this page runs on: localhost, app1.example.test, … (same pages on every host).
$("host").textContent = location.host;
const here = location.pathname + location.search + location.hash;
$("login-link").href = `/login?returnTo=${encodeURIComponent(here)}`;
$("nav-login").href = $("login-link").href;

// The API origin comes from the same config the worker uses.
let config = {};
try {
  config = await (await fetch("/lockstep.config.json")).json();
} catch (e) {
  showError(`Could not read /lockstep.config.json: ${e}`);
}
const API_ORIGIN = config?.apis?.[0]?.origin ?? "";
$("api-origin").textContent = API_ORIGIN || "(none configured)";

function renderControlled() {
  $("controlled").textContent = navigator.serviceWorker?.controller ? "yes" : "no";
}
renderControlled();
navigator.serviceWorker?.addEventListener("controllerchange", renderControlled);

let session;
try {
  session = await Lockstep.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json" });
} catch (e) {
  showError(`Lockstep.start failed: ${e?.message ?? e}`);
}
window.demo = { session, apiOrigin: API_ORIGIN, lastBurst: null };

let state = session?.state ?? null;
let warningDeadline = null;
let lastKey = null;

function clock() {
  return new Date().toLocaleTimeString("en-GB", { hour12: false });
}

/** Adds one line to this tab's timeline (newest first, at most 6). */
function logEvent(text) {
  const li = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = clock();
  li.append(time, document.createTextNode(text));
  $("timeline").prepend(li);
  while ($("timeline").children.length > 6) $("timeline").lastElementChild.remove();
}

function render(next) {
  state = next;
  const status = state?.status ?? "unknown";
  const loggedIn = status === "logged-in";
  $("status").textContent = status;
  $("status").className = `pill ${status}`;
  $("user").textContent = state?.user?.name ?? "–";
  $("epoch").textContent = state?.epoch ?? "–";
  $("reason").textContent = state?.reason ?? "–";
  $("reason-text").textContent = state?.reason ? `(${REASONS[state.reason] ?? "ended"})` : "";
  $("mode").textContent = state?.mode ?? "–";
  $("status-line").textContent = loggedIn
    ? `Logged in as ${state?.user?.name ?? "someone"}, in every tab of this site.`
    : state?.reason
      ? "Logged out in every tab. Log in again from any tab."
      : "Not logged in yet. Log in from any tab: this one follows.";
  $("login-link").hidden = loggedIn;
  $("logout").hidden = !loggedIn;
  if (!loggedIn) warningDeadline = null;
  const key = `${status} ${state?.epoch}`;
  if (key !== lastKey) {
    const first = lastKey === null;
    lastKey = key;
    logEvent(
      (first ? "opened: " : "") +
      (loggedIn
        ? `logged in as ${state?.user?.name ?? "?"} (epoch ${state?.epoch})`
        : `${status}${state?.reason ? `: ${state.reason}` : ""} (epoch ${state?.epoch ?? "–"})`),
    );
  }
  renderControlled();
  tick();
}

// Countdowns, and the idle banner while the client reports an idle warning (it clears the
// warning with `null` when activity in any tab moved the shared deadline).
function tick() {
  const now = Date.now();
  const loggedIn = state?.status === "logged-in";
  $("idle-countdown").textContent = formatRemaining(loggedIn && state?.idleDeadline ? state.idleDeadline - now : NaN);
  $("expires-countdown").textContent = formatRemaining(loggedIn && state?.expiresAt ? state.expiresAt - now : NaN);
  const warn = loggedIn && warningDeadline !== null;
  $("idle-warning").hidden = !warn;
  if (warn) $("idle-warning-countdown").textContent = formatRemaining(warningDeadline - now);
}

if (session) {
  render(session.state);
  session.subscribe(render);
  session.onIdleWarning((warning) => {
    warningDeadline = warning?.deadline ?? null;
    if (warningDeadline !== null) logEvent("idle warning");
    tick();
  });
}
setInterval(tick, 250);

$("stay-active").addEventListener("click", () => session?.stayActive());
$("logout").addEventListener("click", () => session?.logout());

$("call-api").addEventListener("click", async () => {
  $("api-result").textContent = "…";
  try {
    const res = await fetch(`${API_ORIGIN}/v1/me`);
    const blocked = res.headers.get("lockstep-blocked") ? " (blocked locally by Lockstep)" : "";
    $("api-result").textContent = `GET /v1/me → ${res.status}${blocked}\n${await res.text()}`;
  } catch (e) {
    $("api-result").textContent = `GET /v1/me failed: ${e}`;
  }
});

/** "20 × 200" or "1 × 401 (server), 19 × 401 blocked locally". */
function tally(results) {
  const counts = new Map();
  for (const r of results) counts.set(r, (counts.get(r) ?? 0) + 1);
  const label = (r) => (r.endsWith("*") ? `${r.slice(0, -1)} blocked locally` : r === "401" ? "401 (server)" : r);
  return [...counts].map(([r, n]) => `${n} × ${label(r)}`).join(", ");
}

$("burst").addEventListener("click", async () => {
  $("burst-result").textContent = "…";
  $("burst-dots").replaceChildren();
  const started = performance.now();
  // `window.demo.lastBurst`: one status per call, `*` marking a `lockstep-blocked` answer.
  const results = await Promise.all(
    Array.from({ length: 20 }, () =>
      fetch(`${API_ORIGIN}/v1/items`).then(
        (res) => (res.headers.get("lockstep-blocked") ? `${res.status}*` : String(res.status)),
        () => "error",
      ),
    ),
  );
  const ms = Math.round(performance.now() - started);
  window.demo.lastBurst = results;
  $("burst-result").textContent = `${tally(results)}   in ${ms} ms`;
  $("burst-dots").replaceChildren(
    ...results.map((r) => {
      const i = document.createElement("i");
      i.className = r.endsWith("*") ? "blocked" : r === "200" ? "" : r === "401" ? "s401" : "other";
      i.title = r.endsWith("*") ? `${r.slice(0, -1)}, blocked locally` : r;
      return i;
    }),
  );
  $("burst-legend").hidden = false;
  logEvent(`burst: ${tally(results)}`);
});
