#!/usr/bin/env node
/**
 * `node --experimental-websocket bench/profile.mjs`: where the gateway's CPU goes on the non-streaming hot path.
 * Runs the gateway in plain workerd with its inspector on, drives it with wrk, records a V8 CPU profile of every
 * isolate in the process (the gateway and its binding Workers: KV, D1, ...), and prints the top functions by self
 * time. Knobs: PROFILE_SECONDS (5), PROFILE_CONNECTIONS (8), PROFILE_MODEL (gemini/gemini-2.0-flash), PROFILE_KEY (the
 * key's fields as JSON, e.g. {"cache":{"ttl":3600}}), PROFILE_VARY=1 (every body different: a cache always misses), PROFILE_FILL (seconds of varied calls first),
 * PROFILE_VARS (the gateway's vars as JSON, `$UPSTREAM` for the mock upstream's URL: '{"OTEL_EXPORTER_OTLP_ENDPOINT":"$UPSTREAM"}').
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { checkWrk, runWrk } from "./lib/wrk.mjs";
import { compatOf, prepareGateway, serve, simpleConfig, withVars } from "./lib/workerd.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench-profile");
const seconds = Number(process.env.PROFILE_SECONDS ?? 5);
const connections = Number(process.env.PROFILE_CONNECTIONS ?? 8);
const model = process.env.PROFILE_MODEL ?? "gemini/gemini-2.0-flash";
const vary = process.env.PROFILE_VARY === "1";
const PROFILE_TOKEN = "profile-admin-token-0123456789abcdef";
if (typeof WebSocket === "undefined") {
  console.error("profile: needs a WebSocket client: run with `node --experimental-websocket bench/profile.mjs` (Node 20) or Node ≥ 22");
  process.exit(2);
}
checkWrk();

const freePort = () => new Promise((r) => { const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const { execFileSync } = await import("node:child_process");
// Not minified, so the profile names functions as the source does.
execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--no-minify", "--outdir", path.join(work, "dist")], {
  cwd: root, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" }, stdio: "pipe",
});
const gwBase = await prepareGateway({ root, bundlePath: path.join(work, "dist", "index.js"), stateDir: path.join(work, "state"), vars: { ADMIN_TOKEN: PROFILE_TOKEN, GEMINI_API_KEY: "k", OPENAI_API_KEY: "k" }, d1: process.env.BENCH_D1 === "local" ? "local" : "sink" });
const upstream = await serve(simpleConfig({ name: "upstream", modulePath: path.join(import.meta.dirname, "workers", "upstream.mjs"), compat: compatOf(gwBase) }), { dir: work, label: "upstream" });
const inspectorPort = await freePort();
// PROFILE_VARS: the gateway's vars as JSON, `$UPSTREAM` in a value being the mock upstream's URL (as BENCH_GATEWAY_VARS).
const extraVars = Object.fromEntries(Object.entries(JSON.parse(process.env.PROFILE_VARS ?? "{}")).map(([k, v]) => [k, String(v).replaceAll("$UPSTREAM", upstream.url)]));
const gw = await serve(withVars(gwBase, { GEMINI_BASE_URL: upstream.url, OPENAI_BASE_URL: upstream.url, ...extraVars }), { dir: work, label: "gateway", args: [`--inspector-addr=127.0.0.1:${inspectorPort}`] });
try {
  const kr = await fetch(`${gw.url}/admin/keys`, { method: "POST", headers: { authorization: `Bearer ${PROFILE_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "profile", ...JSON.parse(process.env.PROFILE_KEY ?? "{}") }) });
  const key = (await kr.json()).key;
  const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text: `Say hello in one short sentence.${vary ? " (VARY)" : ""}` }] }], generationConfig: { maxOutputTokens: 64, temperature: 0.2 } });
  const url = `${gw.url}/genai/v1beta/models/${model}:generateContent`;
  // PROFILE_FILL=<seconds>: first that long of calls with every body different (a cache's memory tier filled, as a busy isolate's is).
  if (process.env.PROFILE_FILL) await runWrk({ url, body: body.replace("sentence.", "sentence. (FILL)"), key, pid: gw.pid, connections, seconds: Number(process.env.PROFILE_FILL), vary: true });
  await runWrk({ url, body, key, pid: gw.pid, connections, seconds: 2, vary }); // warm every isolate up

  const targets = await (await fetch(`http://127.0.0.1:${inspectorPort}/json/list`)).json();
  const sessions = await Promise.all(targets.map((t) => session(t)));
  await Promise.all(sessions.map((s) => s.send("Profiler.enable").then(() => s.send("Profiler.setSamplingInterval", { interval: 100 })).then(() => s.send("Profiler.start"))));
  const w = await runWrk({ url, body, key, pid: gw.pid, connections, seconds, vary });
  const profiles = await Promise.all(sessions.map((s) => s.send("Profiler.stop")));
  sessions.forEach((s) => s.close());
  console.log(`${w.rps.toFixed(0)} req/s, ${w.cpuMsPerReq.toFixed(3)} CPU ms/request (whole workerd process) over ${w.requests} requests\n`);
  profiles.forEach(({ profile }, i) => {
    writeFileSync(path.join(work, `isolate-${i}.cpuprofile`), JSON.stringify(profile));
    summarize(targets[i].title ?? targets[i].id, profile, w.requests);
  });
  console.log(`\nprofiles (open in Chrome DevTools): ${work}/isolate-*.cpuprofile`);
} finally {
  await gw.stop();
  await upstream.stop();
}

function session(target) {
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  let id = 0;
  const pending = new Map();
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.id && pending.has(m.id)) {
      pending.get(m.id)(m.result);
      pending.delete(m.id);
    }
  };
  const open = new Promise((r) => (ws.onopen = r));
  return open.then(() => ({
    send: (method, params = {}) => new Promise((r) => { pending.set(++id, r); ws.send(JSON.stringify({ id, method, params })); }),
    close: () => ws.close(),
  }));
}

/** Self time per function (µs per request), and the profile's total sampled time. */
function summarize(title, profile, requests) {
  const dt = new Map();
  const { samples, timeDeltas, nodes } = profile;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (let i = 0; i < samples.length; i++) dt.set(samples[i], (dt.get(samples[i]) ?? 0) + (timeDeltas[i + 1] ?? 0));
  const self = new Map();
  let total = 0;
  for (const [id, us] of dt) {
    const n = byId.get(id);
    const f = n.callFrame;
    const name = `${f.functionName || "(anonymous)"} ${f.url ? path.basename(f.url) : ""}:${f.lineNumber + 1}`;
    if (f.functionName === "(idle)" || f.functionName === "(program)") continue;
    self.set(name, (self.get(name) ?? 0) + us);
    total += us;
  }
  console.log(`== ${title}: ${(total / requests).toFixed(1)} µs JS per request (sampled, excl. idle/program)`);
  [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).forEach(([n, us]) => console.log(`  ${(us / requests).toFixed(1).padStart(7)} µs  ${n}`));
}
