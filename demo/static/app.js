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

function render(next) {
  state = next;
  const status = state?.status ?? "unknown";
  $("status").textContent = status;
  $("status").className = `pill ${status}`;
  $("user").textContent = state?.user?.name ?? "–";
  $("epoch").textContent = state?.epoch ?? "–";
  $("reason").textContent = state?.reason ?? "–";
  $("mode").textContent = state?.mode ?? "–";
  if (status !== "logged-in") warningDeadline = null;
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

$("burst").addEventListener("click", async () => {
  $("burst-result").textContent = "…";
  const results = await Promise.all(
    Array.from({ length: 20 }, () =>
      fetch(`${API_ORIGIN}/v1/items`).then(
        (res) => (res.headers.get("lockstep-blocked") ? `${res.status}*` : String(res.status)),
        () => "error",
      ),
    ),
  );
  window.demo.lastBurst = results;
  const tally = {};
  for (const r of results) tally[r] = (tally[r] ?? 0) + 1;
  $("burst-result").textContent =
    `${Object.entries(tally).map(([s, n]) => `${s} ×${n}`).join(", ")}   (* = blocked locally)\n${results.join(" ")}`;
});
