// The login form: a plain app login with fetch. Kept apart from login.js (which imports
// the Lockstep client) so the form works even when the client cannot load.
const $ = (id) => document.getElementById(id);

const returnTo = new URLSearchParams(location.search).get("returnTo");
$("host").textContent = location.host;
// The demo users' buttons fill the form (they do not submit it).
for (const chip of document.querySelectorAll("[data-user]")) {
  chip.addEventListener("click", () => {
    $("username").value = chip.dataset.user;
    $("password").value = chip.dataset.pass;
    $("login-submit").focus();
  });
}
if (returnTo) {
  $("return-to").textContent = returnTo;
  $("return-to-line").hidden = false;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-result").textContent = "…";
  try {
    const res = await fetch("/api/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    if (res.ok) {
      const body = await res.json().catch(() => ({}));
      const name = body?.user?.name ?? $("username").value;
      // Without service-worker support the client cannot see the login: tell the other tabs.
      const session = window.demo?.session;
      if (session?.state?.mode === "broadcast-only") session.reportLogin(body?.user ?? { name });
      // With Lockstep, the token fields are gone from `body` by now.
      $("login-result").textContent = `logged in as ${name}` + (returnTo ? " — taking you back…" : "");
    } else if (res.status === 401) {
      $("login-result").textContent = "wrong username or password";
    } else {
      $("login-result").textContent = `login failed: HTTP ${res.status}`;
    }
  } catch (e) {
    $("login-result").textContent = `login failed: ${e}`;
  }
});
$("login-submit").disabled = false;
