// The login page runs Lockstep too: the worker must see the login response to take the
// tokens, and the client brings this tab back to its return URL once any tab logs in.
import { Lockstep } from "/lockstep/lockstep-client.js";

const $ = (id) => document.getElementById(id);

function renderControlled() {
  $("controlled").textContent = navigator.serviceWorker?.controller ? "yes" : "no";
}
renderControlled();
navigator.serviceWorker?.addEventListener("controllerchange", renderControlled);

const REASONS = {
  logout: "someone pressed Log out",
  idle: "no activity in any tab for the idle timeout",
  unauthorized: "the API refused the token (401), so Lockstep ended the session once, for everyone",
  "refresh-failed": "the API refused the token and a refresh could not renew it (revoked?), so Lockstep ended the session once, for everyone",
  expired: "the token expired",
  elsewhere: "you logged out in another app",
};

function render(state) {
  const status = state?.status ?? "unknown";
  $("status").textContent = status;
  $("status").className = `pill ${status}`;
  $("user").textContent = state?.user?.name ?? "–";
  $("epoch").textContent = state?.epoch ?? "–";
  $("reason").textContent = state?.reason ?? "–";
  // Why this tab is here: the session ended in every tab (not shown for a first login).
  const why = REASONS[state?.reason];
  $("ended").hidden = !(status === "logged-out" && why);
  if (why) $("ended").textContent = `Your session ended in every tab: ${why}.`;
  renderControlled();
}

try {
  const session = await Lockstep.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json" });
  window.demo = { session };
  render(session.state);
  session.subscribe(render);
} catch (e) {
  $("error").textContent = `Lockstep.start failed: ${e?.message ?? e}`;
  $("error").hidden = false;
}
