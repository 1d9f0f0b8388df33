// Drives bench/propagation.mjs's run without DevTools (demo/static/bench.js imports this only
// when the first URL of the tab asked for it): a browser with a DevTools client attached to
// all 20 tabs is not what users have. Each page records when its subscriber saw each epoch
// and, on its next load, reports that and where it is to the bench's own server (another
// origin); tab 0 then asks that server what to do next, and does it.
const q = new URLSearchParams(location.search);
// The coordinator is the bench's own server on this machine, never another host: a link to
// /bench.html?drive=https://elsewhere must not make the page report to, or take orders from, it.
const onLoopback = (u) => { try { const h = new URL(u).hostname; return h === "localhost" || h === "127.0.0.1"; } catch { return false; } };
if (q.has("drive") && onLoopback(q.get("drive"))) {
  sessionStorage.setItem("bench:drive", q.get("drive"));
  sessionStorage.setItem("bench:tab", q.get("tab"));
}
const coord = sessionStorage.getItem("bench:drive");
const tab = Number(sessionStorage.getItem("bench:tab"));

/**
 * Subscribes, and reports where the tab is: on load, and half a second after a change that
 * did not take the page away (the first login: the pages were not on the login page). Tab 0
 * then asks what to do next, and does it.
 */
export function drive(session, loginPath) {
  if (!coord) return undefined; // no coordinator, or one refused above
  const seen = [];
  let later = 0;
  session.subscribe((s) => {
    seen.push({ epoch: s.epoch, t: performance.timeOrigin + performance.now() });
    clearTimeout(later);
    later = setTimeout(step, 500);
  });
  // Nothing is taken off on a report: a page that leaves cancels its request.
  const kept = (key) => JSON.parse(sessionStorage.getItem(key) ?? "[]");
  addEventListener("pagehide", () => sessionStorage.setItem("bench:seen", JSON.stringify(kept("bench:seen").concat(seen))));
  async function step() {
    const s = session.state;
    const report = {
      tab, status: s.status, epoch: s.epoch, atLogin: location.pathname === loginPath,
      controlled: !!navigator.serviceWorker.controller, seen: kept("bench:seen").concat(seen), t0: kept("bench:t0"),
    };
    // text/plain: a simple request, no preflight.
    await fetch(`${coord}/ready`, { method: "POST", body: JSON.stringify(report) });
    if (tab !== 0) return;
    const next = await (await fetch(`${coord}/next?epoch=${s.epoch}`)).json();
    const t = performance.timeOrigin + performance.now();
    if (next.do === "logout") {
      sessionStorage.setItem("bench:t0", JSON.stringify(kept("bench:t0").concat({ epoch: s.epoch + 1, t })));
      session.logout();
    } else if (next.do === "login") {
      fetch("/api/login", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "ada", password: "lovelace" }) });
    }
  }
  return step();
}
