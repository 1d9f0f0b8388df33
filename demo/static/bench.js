// The client and nothing else (demo/static/bench.html and bench-login.html, for
// bench/propagation.mjs): the figure is Lockstep's own delivery, not an app's rendering.
import { Lockstep } from "/lockstep/lockstep-client.js";

const session = await Lockstep.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json" });
window.demo = { session };
if (sessionStorage.getItem("bench:drive") || new URLSearchParams(location.search).has("drive")) {
  const { drive } = await import("/bench-drive.js");
  await drive(session, "/bench-login.html");
}
