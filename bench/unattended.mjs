// What bench/propagation.mjs and bench/fanout.mjs share: a Chromium with no DevTools client
// (as users run it), a wait for a quiet machine before each trigger, and the statistics.

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CHROMIUM_FLAGS, HOST_RESOLVER_RULES, waitFor } from "../e2e/harness.mjs";

/** Idle share of the machine's CPU time over `ms`, from /proc/stat (null where there is none). */
async function idleShare(ms) {
  const read = () => {
    try {
      const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
      return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
    } catch {
      return null;
    }
  };
  const a = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const b = read();
  return a && b && b.total > a.total ? (b.idle - a.idle) / (b.total - a.total) : null;
}

/**
 * Before each trigger: waits until the machine is quiet (≥ 80% idle over 100 ms), at most
 * 5 s. A logout usually comes while the other tabs sit idle; here the trial before has just
 * loaded 20 pages, and on 2 cores that work was still running when the next trial began
 * (traced: 100–500 ms of CPU in the 300 ms before a trigger). Same build, 3 alternated runs
 * of 15 logouts: p50 / p90 / max 14.1 / 44 / 73.1 ms at once, 14.2 / 20.5 / 37.7 ms after
 * the wait. Counts the triggers that went ahead without a quiet machine.
 */
export const notQuiet = { count: 0 };
export async function machineQuiet() {
  const until = Date.now() + 5000;
  for (;;) {
    const idle = await idleShare(100);
    if (idle == null || idle >= 0.8) return;
    if (Date.now() > until) return void notQuiet.count++;
  }
}

/**
 * Chromium started directly, with no DevTools client: `open(url)` adds a tab through the
 * DevTools HTTP endpoint (`/json/new`, which attaches nothing; the newest tab is the one in
 * front), `close()` ends it.
 */
export async function startUnattended({ timeout = 60_000 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "lockstep-unattended-"));
  const chromium = spawn(process.env.CHROMIUM_BIN ?? "/usr/bin/chromium",
    [...CHROMIUM_FLAGS, HOST_RESOLVER_RULES, `--user-data-dir=${dir}`, "--remote-debugging-port=0", "about:blank"],
    { stdio: "ignore", detached: true });
  const exited = new Promise((resolve) => chromium.once("exit", resolve));
  const close = async () => {
    try { process.kill(-chromium.pid, "SIGKILL"); } catch { /* gone */ }
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await waitFor(() => Number(readFileSync(path.join(dir, "DevToolsActivePort"), "utf8").split("\n")[0]),
      { message: "Chromium's DevToolsActivePort", timeout });
    const open = (u) => waitFor(async () => (await fetch(`http://127.0.0.1:${port}/json/new?${encodeURIComponent(u)}`, { method: "PUT" })).ok,
      { message: `open ${u}`, interval: 100, timeout });
    return { open, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * A run the pages drive: `finished` settles when `finish` or `fail` is called. `take(req, res,
 * use)` reads a tab's JSON report, hands it to `use` and answers `{}`; a report that cannot be
 * read fails the run.
 */
export function drivenRun() {
  let finish;
  let fail;
  const finished = new Promise((resolve, reject) => { finish = resolve; fail = reject; });
  const take = (req, res, use) => {
    let body = "";
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      try {
        use(JSON.parse(body));
        res.end("{}");
      } catch (err) {
        res.statusCode = 400;
        res.end("{}");
        fail(new Error(`bad report from a tab: ${err.message}`));
      }
    });
  };
  return { finished, finish, fail, take };
}

export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

/**
 * 95% percentile-bootstrap interval of the `q` quantile of `xs`: [low, high]. Resampled with a
 * fixed seed, so the same samples always give the same interval.
 */
export function interval(xs, q, rounds = 2000) {
  let seed = 0x9e3779b9;
  const random = () => { // mulberry32
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const stats = [];
  for (let r = 0; r < rounds; r++) stats.push(quantile(Array.from(xs, () => xs[Math.floor(random() * xs.length)]), q));
  return [quantile(stats, 0.025), quantile(stats, 0.975)];
}

/** p50, p99 (with its 95% interval) and max of per-trial figures, in ms to 0.1. */
export const figures = (xs) => {
  const [low, high] = interval(xs, 0.99);
  return { p50: +quantile(xs, 0.5).toFixed(1), p99: +quantile(xs, 0.99).toFixed(1), p99Interval: [+low.toFixed(1), +high.toFixed(1)], max: +Math.max(...xs).toFixed(1) };
};
