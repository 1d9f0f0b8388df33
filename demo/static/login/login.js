// The login page runs Lockstep too: the worker must see the login response to take the
// tokens, and the client brings this tab back to its return URL once any tab logs in.
import { Lockstep } from "/lockstep/lockstep-client.js";

const $ = (id) => document.getElementById(id);

function renderControlled() {
  $("controlled").textContent = navigator.serviceWorker?.controller ? "yes" : "no";
}
renderControlled();
navigator.serviceWorker?.addEventListener("controllerchange", renderControlled);

function render(state) {
  const status = state?.status ?? "unknown";
  $("status").textContent = status;
  $("status").className = `pill ${status}`;
  $("user").textContent = state?.user?.name ?? "–";
  $("epoch").textContent = state?.epoch ?? "–";
  $("reason").textContent = state?.reason ?? "–";
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
