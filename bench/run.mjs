#!/usr/bin/env node
/**
 * `npm run bench`: the gateway's cost measured against the physical limit, a bare pass-through Worker that only
 * forwards each request to the same upstream. Both run in plain `workerd serve` (separate processes, same
 * compatibility settings), call the same mock upstream on loopback, and take the same load (wrk), interleaved round
 * by round so machine drift hits both. Prints a table and writes bench/results.json.
 *
 * Knobs (environment): BENCH_ROUNDS (3), BENCH_SECONDS per wrk run (5), BENCH_CONNECTIONS (32), BENCH_STREAM_WARM_SECONDS
 * (2 s of plain calls on each side before the measured streams), BENCH_STREAMS per
 * side (10), BENCH_BIG_MB (100), BENCH_COLD (3 cold starts per side), BENCH_ONLY (comma list of sections:
 * throughput,latency,cache,translation,governance,guardrails,traces,streaming,memory,cold), BENCH_D1=local (usage rows into Miniflare's SQLite D1 in the
 * same process instead of the remote-like stand-in outside it, see lib/d1-sink.mjs), BENCH_CACHE=local (the Cache API
 * served by Miniflare's simulator in the gateway's process instead of the stand-in outside it, lib/cache-sink.mjs), BENCH_VERBOSE=1 (workerd logs),
 * BENCH_BASELINE=<git ref> (also builds that commit of the gateway and puts it in the throughput section as a third
 * side, interleaved with the two others, so a change is compared with the code before it in the same run),
 * BENCH_GATEWAY_VARS='{"NAME":"value"}' (vars for this checkout's gateway only: a feature switched off or on; `$UPSTREAM`
 * in a value is the mock upstream's URL, which also answers OTLP exports: '{"OTEL_EXPORTER_OTLP_ENDPOINT":"$UPSTREAM"}').
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { cpuMs, loadAverage, memMiB } from "./lib/proc.mjs";
import { probeStream, streamUpstream } from "./lib/stream.mjs";
import { checkWrk, runWrk } from "./lib/wrk.mjs";
import { compatOf, prepareGateway, serve, simpleConfig, withMainModule, withVars, WORKERD } from "./lib/workerd.mjs";
import { judge } from "./targets.mjs";
import { ADMIN_TOKEN, createKey } from "./lib/admin.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench");
const int = (name, d) => (Number.isFinite(Number(process.env[name])) && process.env[name] !== "" && process.env[name] !== undefined ? Number(process.env[name]) : d);
const opts = {
  rounds: int("BENCH_ROUNDS", 3),
  seconds: int("BENCH_SECONDS", 5),
  connections: int("BENCH_CONNECTIONS", 32),
  streams: int("BENCH_STREAMS", 10),
  streamWarmSeconds: int("BENCH_STREAM_WARM_SECONDS", 2),
  chunks: 100,
  gapMs: 2,
  bigMiB: int("BENCH_BIG_MB", 100),
  baseline: process.env.BENCH_BASELINE || null,
  // Extra vars for this checkout's gateway only (not the baseline), e.g. {"RESPONSE_CACHE":"off"}: what a feature costs.
  gatewayVars: process.env.BENCH_GATEWAY_VARS ? JSON.parse(process.env.BENCH_GATEWAY_VARS) : {},
  cold: int("BENCH_COLD", 3),
  // "sink": D1 answered at once by a stand-in, as a remote D1 costs the Worker nothing but the call; "local": SQLite.
  d1: process.env.BENCH_D1 === "local" ? "local" : "sink",
  // "sink": the Cache API answered by a stand-in outside the process (lib/cache-sink.mjs); "local": Miniflare's simulator.
  cache: process.env.BENCH_CACHE === "local" ? "local" : "sink",
  farMs: int("BENCH_FAR_MS", 50),
  govSeconds: int("BENCH_GOV_SECONDS", 2),
  // Object and D1 state on tmpfs: a deployed object's storage is not the Worker's disk, so its commits should not
  // stall the process serving the Worker (on this machine's disk each one does).
  state: process.env.BENCH_STATE === "disk" || !existsSync("/dev/shm") ? "disk" : "tmpfs",
};
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(",").map((s) => s.trim())) : null;
const want = (s) => !only || only.has(s);

const GEMINI_MODEL = "gemini/gemini-2.0-flash";
const OPENAI_MODEL = "openai/gpt-4o-mini";
const BODY = JSON.stringify({
  contents: [{ role: "user", parts: [{ text: "Say hello in one short sentence." }] }],
  generationConfig: { maxOutputTokens: 64, temperature: 0.2 },
});
const genUrl = (base, model) => `${base}/genai/v1beta/models/${model}:generateContent`;

const procs = new Set();
async function start(config, label) {
  const p = await serve(config, { dir: work, label });
  procs.add(p);
  return p;
}
async function stop(p) {
  procs.delete(p);
  await p.stop();
}
async function stopAll() {
  await Promise.all([...procs].map((p) => stop(p)));
}
process.on("SIGINT", () => stopAll().then(() => process.exit(130)));

const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const quantile = (xs, q) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(url, { key, body = BODY } = {}) {
  const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...(key ? { "x-goog-api-key": key } : {}) }, body });
  return { status: r.status, text: await r.text() };
}

// ---------------------------------------------------------------------------------------------------------------

async function main() {
  checkWrk();
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const results = {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, workerd: execFileSync(WORKERD, ["--version"], { encoding: "utf8" }).trim(), loadBefore: loadAverage() },
    options: opts,
  };
  log(`machine: ${results.machine.cpus} CPUs, load average ${results.machine.loadBefore.join(" ")}; ${results.machine.workerd}`);

  // Bundle: exactly what `wrangler deploy` would upload.
  const dist = path.join(work, "dist");
  const wranglerOut = execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", dist], {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
    encoding: "utf8",
  });
  const bundlePath = path.join(dist, "index.js");
  const code = readFileSync(bundlePath);
  const upload = /Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/.exec(wranglerOut);
  results.bundle = {
    rawKiB: code.length / 1024,
    gzipKiB: upload ? Number(upload[2]) : gzipSync(code, { level: 9 }).length / 1024,
    source: upload ? "wrangler deploy --dry-run (Total Upload gzip)" : "gzip -9 of the dry-run bundle",
  };
  log(`bundle: ${results.bundle.rawKiB.toFixed(1)} KiB, gzip ${results.bundle.gzipKiB.toFixed(1)} KiB`);
  const baseline = opts.baseline ? buildBaseline(opts.baseline) : null;
  if (baseline) {
    results.baseline = { ref: opts.baseline, commit: baseline.commit, bundleGzipKiB: baseline.gzipKiB };
    log(`baseline ${opts.baseline} (${baseline.commit.slice(0, 10)}): bundle gzip ${baseline.gzipKiB.toFixed(1)} KiB`);
  }

  // The gateway's workerd config (bindings from wrangler.toml via Miniflare; migrations applied), then the mock
  // upstream and the bare pass-through with the same compatibility settings.
  const stateDir = opts.state === "tmpfs" ? path.join("/dev/shm", `edgeway-bench-${process.pid}`) : path.join(work, "state");
  process.on("exit", () => opts.state === "tmpfs" && rmSync(stateDir, { recursive: true, force: true }));
  const gwBase = await prepareGateway({
    root,
    bundlePath,
    stateDir,
    vars: { ADMIN_TOKEN, GEMINI_API_KEY: "bench-gemini-key", OPENAI_API_KEY: "bench-openai-key", ...opts.gatewayVars },
    d1: opts.d1,
    cache: opts.cache,
  });
  const compat = compatOf(gwBase);
  const upstream = await start(simpleConfig({ name: "upstream", modulePath: path.join(import.meta.dirname, "workers", "upstream.mjs"), compat }), "upstream");
  // `$UPSTREAM` in a BENCH_GATEWAY_VARS value is the mock upstream's URL (a trace collector there, for one).
  const upstreamVars = (base) => Object.fromEntries(Object.entries(opts.gatewayVars).filter(([, v]) => typeof v === "string" && v.includes("$UPSTREAM")).map(([k, v]) => [k, v.replaceAll("$UPSTREAM", base)]));
  const gwCfg = (base) => withVars(gwBase, { GEMINI_BASE_URL: base, OPENAI_BASE_URL: base, ...upstreamVars(base) });
  const bareCfg = (base) => simpleConfig({ name: "bare", modulePath: path.join(import.meta.dirname, "workers", "bare.mjs"), compat, bindings: [{ name: "UPSTREAM", text: base }] });

  const baseCfg = baseline
    && withVars(
      await prepareGateway({ root: baseline.root, bundlePath: baseline.bundlePath, stateDir: `${stateDir}-baseline`, vars: { ADMIN_TOKEN, GEMINI_API_KEY: "bench-gemini-key", OPENAI_API_KEY: "bench-openai-key" }, d1: opts.d1 }),
      { GEMINI_BASE_URL: upstream.url, OPENAI_BASE_URL: upstream.url },
    );
  if (baseline) process.on("exit", () => opts.state === "tmpfs" && rmSync(`${stateDir}-baseline`, { recursive: true, force: true }));

  let gw = await start(gwCfg(upstream.url), "gateway");
  let bare = await start(bareCfg(upstream.url), "bare");
  const key = await createKey(gw.url);
  for (const [name, p] of [["gateway", gw], ["bare", bare]]) {
    const r = await post(genUrl(p.url, GEMINI_MODEL), { key });
    if (r.status !== 200 || !r.text.includes("How can I help")) throw new Error(`${name} does not answer: ${r.status} ${r.text}`);
  }

  const pair = { limit: { label: "bare", p: bare }, gateway: { label: "gateway", p: gw } };
  let old;
  if (baseCfg) {
    old = await start(baseCfg, "baseline");
    const oldKey = await createKey(old.url);
    const r = await post(genUrl(old.url, GEMINI_MODEL), { key: oldKey });
    if (r.status !== 200) throw new Error(`baseline does not answer: ${r.status} ${r.text}`);
    old.key = oldKey;
  }
  if (want("throughput")) {
    const s0 = await stats(gw.url);
    const sides = old ? { ...pair, baseline: { label: "baseline", p: old, key: old.key } } : pair;
    results.throughput = await interleaved("throughput", sides, { url: (p) => genUrl(p.url, GEMINI_MODEL), key, connections: opts.connections });
    // How the usage rows of those calls left the isolate: hand-offs to a shard, and batches it wrote to D1 itself.
    const s1 = await stats(gw.url);
    const per1000 = (f) => (1000 * (s1[f] - s0[f])) / (s1.calls - s0.calls);
    results.throughput.usage = { shardHandoffsPer1000: per1000("usage_handoffs"), directWritesPer1000: per1000("usage_direct_writes") };
  }
  if (want("latency")) results.latency = await interleaved("latency (1 connection)", pair, { url: (p) => genUrl(p.url, GEMINI_MODEL), key, connections: 1 });
  if (want("cache")) results.cache = await cache(gw, bare);
  if (want("translation")) results.translation = await translation(gw, key);
  await stop(gw);
  await stop(bare);
  if (old) await stop(old);

  if (want("governance")) results.governance = await governance(gwCfg(upstream.url), bareCfg(upstream.url));
  if (want("guardrails")) results.guardrails = await guardrails(gwCfg, upstream);
  if (want("traces")) results.traces = await traces(gwCfg, upstream);

  if (want("memory")) results.memory = await memory(gwCfg(upstream.url), bareCfg(upstream.url), key);
  if (want("streaming")) results.streaming = await streaming(gwCfg, bareCfg, key);
  if (want("cold")) results.coldStart = await coldStart(gwCfg(upstream.url), bareCfg(upstream.url), key);
  await stopAll();

  results.machine.loadAfter = loadAverage();
  results.targets = judge(results);
  writeFileSync(path.join(import.meta.dirname, "results.json"), JSON.stringify(results, null, 2) + "\n");
  report(results);
}

/**
 * wrk against two sides (`limit`, `gateway`), or three with a `baseline` (the gateway before a change), the order
 * turning each round so that no side always goes first; per round the ratio and the difference are taken within the
 * round, and the summary is the median over rounds. `ratio`/`added` are the gateway's against the limit;
 * `vsBaseline` is the gateway's against the baseline.
 */
async function interleaved(name, sides, { url, key, connections }) {
  const entries = Object.entries(sides);
  for (const [, s] of entries) {
    const w = await runWrk({ url: url(s.p, s), body: BODY, key: s.key ?? key, pid: s.p.pid, connections, seconds: Math.min(2, opts.seconds) });
    assertClean(`${name} warm-up ${s.label}`, w);
  }
  const rounds = [];
  for (let i = 0; i < opts.rounds; i++) {
    const turned = entries.map((_, j) => entries[(i + j) % entries.length]);
    const order = entries.length === 2 && i % 2 ? [...entries].reverse() : turned;
    const round = {};
    for (const [side, s] of order) {
      const w = await runWrk({ url: url(s.p, s), body: BODY, key: s.key ?? key, pid: s.p.pid, connections, seconds: opts.seconds });
      assertClean(`${name} ${s.label}`, w);
      round[side] = w;
    }
    rounds.push(round);
    log(`${name} round ${i + 1}/${opts.rounds}: ` + Object.keys(sides).map((k) => `${k} ${round[k].rps.toFixed(0)} req/s p50 ${round[k].p50.toFixed(2)} ms cpu ${round[k].cpuMsPerReq.toFixed(3)} ms/req`).join(" | "));
  }
  const [a, b] = Object.keys(sides);
  const pick = (side, f) => median(rounds.map((r) => f(r[side])));
  const summary = { connections, seconds: opts.seconds, rounds: rounds.length };
  if (sides.baseline) {
    summary.baseline = { rps: pick("baseline", (w) => w.rps), p50: pick("baseline", (w) => w.p50), p99: pick("baseline", (w) => w.p99), cpuMsPerReq: pick("baseline", (w) => w.cpuMsPerReq) };
    summary.vsBaseline = {
      rps: median(rounds.map((r) => r[b].rps / r.baseline.rps)),
      cpu: median(rounds.map((r) => r[b].cpuMsPerReq / r.baseline.cpuMsPerReq)),
      baselineVsLimit: { rps: median(rounds.map((r) => r.baseline.rps / r[a].rps)), cpu: median(rounds.map((r) => r.baseline.cpuMsPerReq / r[a].cpuMsPerReq)) },
    };
  }
  for (const side of [a, b]) {
    summary[side] = { rps: pick(side, (w) => w.rps), p50: pick(side, (w) => w.p50), p99: pick(side, (w) => w.p99), cpuMsPerReq: pick(side, (w) => w.cpuMsPerReq) };
  }
  summary.ratio = {
    rps: median(rounds.map((r) => r[b].rps / r[a].rps)),
    cpu: median(rounds.map((r) => r[b].cpuMsPerReq / r[a].cpuMsPerReq)),
  };
  summary.added = {
    p50: median(rounds.map((r) => r[b].p50 - r[a].p50)),
    p99: median(rounds.map((r) => r[b].p99 - r[a].p99)),
    cpuMsPerReq: median(rounds.map((r) => r[b].cpuMsPerReq - r[a].cpuMsPerReq)),
  };
  return { summary, rounds };
}

function assertClean(what, w) {
  if (!w.requests) throw new Error(`${what}: no requests completed`);
  if (w.non2xx || w.socketErrors) throw new Error(`${what}: ${w.non2xx} non-2xx answers, ${w.socketErrors} socket errors — figures would be invalid`);
}

/** The key kinds of the governance section: what each makes the hot path do. */
const KINDS = [
  ["no limits", {}],
  ["rpm 6000", { rate_limit: { rpm: 6000 } }],
  ["budget", { budget: { max_usd: 1000 } }],
];

async function stats(base) {
  const r = await fetch(`${base}/admin/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  return (await r.json()).isolate;
}

/**
 * Governance on the hot path, with the objects near (local) and far (every object call delayed BENCH_FAR_MS, as for
 * a Worker on another continent): for a key without limits, one with rpm 6000 and one with a budget, the latency
 * added to the bare pass-through at 1 connection (p50, and the mean: 1000 / req/s), and the object round trips the
 * isolate made (its /admin/stats): those a call waited for, per call, and all of them (Governor and usage buffer)
 * per 1,000 calls. Each run uses a fresh key whose first call (which opens its lease) is not counted.
 */
async function governance(gwConfig, bareConfig) {
  const out = { farMs: opts.farMs, secondsPerRun: opts.govSeconds, rounds: opts.rounds, near: {}, far: {} };
  const bare = await start(bareConfig, "bare-governance");
  const far = withVars(withMainModule(gwConfig, path.join(import.meta.dirname, "workers", "far-objects.mjs")), { BENCH_OBJECT_DELAY_MS: String(opts.farMs) });
  try {
    for (const [where, cfg] of [["near", gwConfig], ["far", far]]) {
      const gw = await start(cfg, `gateway-${where}`);
      try {
        const probeKey = await createKey(gw.url);
        const probe = await post(genUrl(gw.url, GEMINI_MODEL), { key: probeKey });
        if (probe.status !== 200) throw new Error(`${where} gateway does not answer: ${probe.status} ${probe.text}`);
        for (const [kind, fields] of KINDS) {
          const runs = [];
          for (let i = 0; i < opts.rounds; i++) {
            const key = await createKey(gw.url, fields);
            await post(genUrl(gw.url, GEMINI_MODEL), { key });
            const before = await stats(gw.url);
            const sides = {};
            for (const [side, p] of i % 2 ? [["gateway", gw], ["limit", bare]] : [["limit", bare], ["gateway", gw]]) {
              sides[side] = await runWrk({ url: genUrl(p.url, GEMINI_MODEL), body: BODY, key, pid: p.pid, connections: 1, seconds: opts.govSeconds });
              assertClean(`governance ${where} ${kind} ${side}`, sides[side]);
            }
            const after = await stats(gw.url);
            const calls = after.calls - before.calls;
            runs.push({
              calls,
              addedP50: sides.gateway.p50 - sides.limit.p50,
              addedMean: 1000 / sides.gateway.rps - 1000 / sides.limit.rps,
              blockingPerCall: (after.governor_blocking - before.governor_blocking) / calls,
              governorPer1000: (1000 * (after.governor_requests - before.governor_requests)) / calls,
              handoffsPer1000: (1000 * (after.usage_handoffs - before.usage_handoffs)) / calls,
            });
          }
          const m = (f) => median(runs.map(f));
          out[where][kind] = {
            addedP50: m((r) => r.addedP50),
            addedMean: m((r) => r.addedMean),
            blockingPerCall: m((r) => r.blockingPerCall),
            governorPer1000: m((r) => r.governorPer1000),
            handoffsPer1000: m((r) => r.handoffsPer1000),
            calls: m((r) => r.calls),
          };
          const o = out[where][kind];
          log(`governance ${where} ${kind}: added p50 ${o.addedP50.toFixed(3)} ms, mean ${o.addedMean.toFixed(3)} ms; blocking round trips per call ${o.blockingPerCall.toFixed(4)}; per 1,000 calls ${o.governorPer1000.toFixed(1)} Governor requests, ${o.handoffsPer1000.toFixed(1)} usage hand-offs`);
        }
      } finally {
        await stop(gw);
      }
    }
  } finally {
    await stop(bare);
  }
  return out;
}

/**
 * The response cache: a hit (a key with a cache policy sending the same body again) against the bare pass-through,
 * at 32 connections and at 1, and a miss (every body different, so every call is looked up, goes upstream and is
 * stored) against the same varied calls of a key with no policy (the cache not engaged: as with it off). The sides
 * are interleaved round by round; each figure is the median over rounds of the within-round difference or ratio.
 */
async function cache(gw, bare) {
  const VARIED = JSON.stringify({
    contents: [{ role: "user", parts: [{ text: "Say hello in one short sentence. (VARY)" }] }],
    generationConfig: { maxOutputTokens: 64, temperature: 0.2 },
  });
  const cachedKey = await createKey(gw.url, { name: "bench-cache", cache: { ttl: 3600 } });
  const plainKey = await createKey(gw.url, { name: "bench-no-cache" });
  const url = genUrl(gw.url, GEMINI_MODEL);
  // The hit side's entry, written by one call and seen to be served by the next.
  await post(url, { key: cachedKey });
  const probe = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-goog-api-key": cachedKey }, body: BODY });
  await probe.text();
  if (probe.headers.get("x-edgeway-cache") !== "hit") throw new Error(`cache: the second identical call was not a hit (x-edgeway-cache: ${probe.headers.get("x-edgeway-cache")})`);
  const out = { rounds: opts.rounds, seconds: opts.seconds };
  for (const connections of [opts.connections, 1]) {
    const sides = [
      ["limit", { p: bare, body: BODY }],
      ["hit", { p: gw, body: BODY, key: cachedKey }],
      ...(connections > 1 ? [["miss", { p: gw, body: VARIED, key: cachedKey, vary: true }], ["off", { p: gw, body: VARIED, key: plainKey, vary: true }]] : []),
    ];
    const rounds = [];
    for (let i = 0; i < opts.rounds; i++) {
      const round = {};
      for (let j = 0; j < sides.length; j++) {
        const [side, s] = sides[(i + j) % sides.length];
        const w = await runWrk({ url: side === "limit" ? genUrl(s.p.url, GEMINI_MODEL) : url, body: s.body, key: s.key, pid: s.p.pid, connections, seconds: opts.seconds, vary: s.vary });
        assertClean(`cache ${side} (${connections} conns)`, w);
        round[side] = w;
      }
      rounds.push(round);
      log(`cache ${connections} conns round ${i + 1}/${opts.rounds}: ` + sides.map(([k]) => `${k} ${round[k].rps.toFixed(0)} req/s p50 ${round[k].p50.toFixed(3)} ms cpu ${round[k].cpuMsPerReq.toFixed(3)} ms/req`).join(" | "));
    }
    const m = (f) => median(rounds.map(f));
    const r = {
      hitVsLimit: { rps: m((x) => x.hit.rps / x.limit.rps), addedP50: m((x) => x.hit.p50 - x.limit.p50), cpu: m((x) => x.hit.cpuMsPerReq / x.limit.cpuMsPerReq) },
      hit: { rps: m((x) => x.hit.rps), p50: m((x) => x.hit.p50), cpuMsPerReq: m((x) => x.hit.cpuMsPerReq) },
      limit: { rps: m((x) => x.limit.rps), p50: m((x) => x.limit.p50), cpuMsPerReq: m((x) => x.limit.cpuMsPerReq) },
    };
    if (connections > 1) {
      r.miss = { rps: m((x) => x.miss.rps), p50: m((x) => x.miss.p50), cpuMsPerReq: m((x) => x.miss.cpuMsPerReq) };
      r.off = { rps: m((x) => x.off.rps), p50: m((x) => x.off.p50), cpuMsPerReq: m((x) => x.off.cpuMsPerReq) };
      r.missAddedCpuMs = m((x) => x.miss.cpuMsPerReq - x.off.cpuMsPerReq);
    }
    out[`c${connections}`] = r;
  }
  return out;
}

/**
 * Traces: the same calls through two gateways of this checkout, one with OTEL_EXPORTER_OTLP_ENDPOINT set (the mock
 * upstream answers its exports) and one without, interleaved round by round at 32 connections. A process's CPU
 * includes its exports (the spans built, encoded and posted after the responses): the difference per request is
 * what a call pays for its trace. With tracing off the gateway runs no trace hook at all.
 */
async function traces(gwCfg, upstream) {
  const on = await start(withVars(gwCfg(upstream.url), { OTEL_EXPORTER_OTLP_ENDPOINT: upstream.url }), "gateway-traces-on");
  const off = await start(gwCfg(upstream.url), "gateway-traces-off");
  try {
    const keys = { on: await createKey(on.url), off: await createKey(off.url) };
    const sides = [["off", off], ["on", on]];
    for (const [side, p] of sides) assertClean(`traces warm-up ${side}`, await runWrk({ url: genUrl(p.url, GEMINI_MODEL), body: BODY, key: keys[side], pid: p.pid, connections: opts.connections, seconds: Math.min(2, opts.seconds) }));
    const rounds = [];
    for (let i = 0; i < opts.rounds; i++) {
      const round = {};
      for (const [side, p] of i % 2 ? [...sides].reverse() : sides) {
        const w = await runWrk({ url: genUrl(p.url, GEMINI_MODEL), body: BODY, key: keys[side], pid: p.pid, connections: opts.connections, seconds: opts.seconds });
        assertClean(`traces ${side}`, w);
        round[side] = w;
      }
      rounds.push(round);
      log(`traces round ${i + 1}/${opts.rounds}: ` + sides.map(([k]) => `${k} ${round[k].rps.toFixed(0)} req/s cpu ${round[k].cpuMsPerReq.toFixed(3)} ms/req`).join(" | "));
    }
    const m = (f) => median(rounds.map(f));
    return {
      rounds: rounds.length, seconds: opts.seconds, connections: opts.connections,
      off: { rps: m((x) => x.off.rps), cpuMsPerReq: m((x) => x.off.cpuMsPerReq) },
      on: { rps: m((x) => x.on.rps), cpuMsPerReq: m((x) => x.on.cpuMsPerReq) },
      addedCpuMs: m((x) => x.on.cpuMsPerReq - x.off.cpuMsPerReq),
    };
  } finally {
    await stop(on);
    await stop(off);
  }
}

/**
 * Guardrails: one gateway with a `pii` policy (every entity, redact, input and output) in GUARDRAILS; a key naming
 * it against a key naming none (guardrails not engaged: as with them off), the same prompt of about 8 KiB of prose
 * with digits and one email (redacted) on both, interleaved round by round at 32 connections and at 1. The added
 * CPU per request, divided by the KiB of text checked (the prompt's and the answer's), is the scanners' cost. Then
 * the TTFB a redacting stream adds: streams through a key whose policy redacts the output against the plain key's,
 * pairwise (the first event goes out at once, its text held back; the window's hold is what the text waits, not
 * CPU, and is not in this figure).
 */
async function guardrails(gwCfg, upstream) {
  const POLICY = JSON.stringify({ "bench-pii": { kind: "pii", on: "both", action: "redact" } });
  const para = "Order 48213 shipped on 2026-03-14 from warehouse 7 to the customer in room 1204; the invoice total was 1,299.50 and the tracking code is ZX-90417. ";
  let prose = "";
  while (prose.length < 8 * 1024) prose += para;
  const text = `${prose}Questions: reach me at jane.doe@corp.example.`;
  const body = JSON.stringify({ contents: [{ role: "user", parts: [{ text }] }], generationConfig: { maxOutputTokens: 64 } });
  // What is checked: the prompt's text and the mock's answer ("Hello! How can I help you today?").
  const checkedKiB = (text.length + 32) / 1024;
  const out = { checkedKiB, rounds: opts.rounds, seconds: opts.seconds };
  const gw = await start(withVars(gwCfg(upstream.url), { GUARDRAILS: POLICY }), "gateway-guardrails");
  try {
    const plain = await createKey(gw.url, { name: "bench-plain" });
    const guarded = await createKey(gw.url, { name: "bench-pii", guardrails: ["bench-pii"] });
    const url = genUrl(gw.url, GEMINI_MODEL);
    const probe = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-goog-api-key": guarded }, body });
    await probe.text();
    if (probe.headers.get("x-edgeway-guardrails") !== "bench-pii=redact") throw new Error(`guardrails: the policy did not act (${probe.status}, x-edgeway-guardrails: ${probe.headers.get("x-edgeway-guardrails")})`);
    for (const connections of [opts.connections, 1]) {
      const sides = [["off", plain], ["pii", guarded]];
      for (const [, key] of sides) assertClean("guardrails warm-up", await runWrk({ url, body, key, pid: gw.pid, connections, seconds: Math.min(2, opts.seconds) }));
      const rounds = [];
      for (let i = 0; i < opts.rounds; i++) {
        const round = {};
        for (const [side, key] of i % 2 ? [...sides].reverse() : sides) {
          const w = await runWrk({ url, body, key, pid: gw.pid, connections, seconds: opts.seconds });
          assertClean(`guardrails ${side} (${connections} conns)`, w);
          round[side] = w;
        }
        rounds.push(round);
        log(`guardrails ${connections} conns round ${i + 1}/${opts.rounds}: ` + sides.map(([k]) => `${k} ${round[k].rps.toFixed(0)} req/s p50 ${round[k].p50.toFixed(3)} ms cpu ${round[k].cpuMsPerReq.toFixed(3)} ms/req`).join(" | "));
      }
      const m = (f) => median(rounds.map(f));
      out[`c${connections}`] = {
        off: { rps: m((x) => x.off.rps), p50: m((x) => x.off.p50), cpuMsPerReq: m((x) => x.off.cpuMsPerReq) },
        pii: { rps: m((x) => x.pii.rps), p50: m((x) => x.pii.p50), cpuMsPerReq: m((x) => x.pii.cpuMsPerReq) },
        addedCpuMs: m((x) => x.pii.cpuMsPerReq - x.off.cpuMsPerReq),
        addedP50: m((x) => x.pii.p50 - x.off.p50),
        cpuMsPerKiB: m((x) => (x.pii.cpuMsPerReq - x.off.cpuMsPerReq) / checkedKiB),
      };
    }
  } finally {
    await stop(gw);
  }

  // A redacting stream's TTFB. The upstream waits for the client to see each chunk, up to 20 ms: a redaction holds
  // the last characters back, so a chunk's text may only show with a later one.
  const su = await streamUpstream({ chunks: 20, gapMs: opts.gapMs, holdTimeoutMs: 20 });
  const gs = await start(withVars(gwCfg(su.url), { GUARDRAILS: POLICY }), "gateway-guardrails-stream");
  try {
    const keys = { off: await createKey(gs.url, { name: "bench-plain" }), redact: await createKey(gs.url, { name: "bench-pii", guardrails: ["bench-pii"] }) };
    let n = 0;
    const probe = (side) => probeStream({ upstream: su, base: gs.url, key: keys[side], id: `g${n++}`, chunks: 20 });
    for (const side of ["off", "redact"]) await probe(side);
    const runs = { off: [], redact: [] };
    for (let i = 0; i < opts.streams; i++) for (const side of i % 2 ? ["redact", "off"] : ["off", "redact"]) runs[side].push(await probe(side));
    out.stream = {
      streams: opts.streams,
      off: { ttfbMs: median(runs.off.map((r) => r.ttfbMs)) },
      redact: { ttfbMs: median(runs.redact.map((r) => r.ttfbMs)) },
      addedTtfbMs: median(runs.redact.map((r, i) => r.ttfbMs - runs.off[i].ttfbMs)),
      // (No per-chunk figures: the probe finds each chunk by its text, which the hold-back regroups across events.)
    };
    log(`guardrails stream: TTFB off ${out.stream.off.ttfbMs.toFixed(2)} ms, redacting ${out.stream.redact.ttfbMs.toFixed(2)} ms (added ${out.stream.addedTtfbMs.toFixed(2)} ms)`);
  } finally {
    await stop(gs);
    await su.close();
  }
  return out;
}

/** Gemini → OpenAI → Gemini vs native Gemini, same gateway process, same load; skipped while there is no openai. */
async function translation(gw, key) {
  const r = await post(genUrl(gw.url, OPENAI_MODEL), { key });
  if (r.status !== 200 || !r.text.includes("How can I help")) {
    const note = `skipped: the gateway has no working "openai" provider yet (probe ${OPENAI_MODEL} answered ${r.status}: ${r.text.slice(0, 160)})`;
    log(`translation ${note}`);
    return { skipped: true, note };
  }
  return interleaved("translation", { native: { label: GEMINI_MODEL, p: gw, model: GEMINI_MODEL }, translated: { label: OPENAI_MODEL, p: gw, model: OPENAI_MODEL } }, {
    url: (p, s) => genUrl(p.url, s.model),
    key,
    connections: opts.connections,
  });
}

/** A big streamed answer through each side with a fresh process; peak RSS before and after. */
async function memory(gwConfig, bareConfig, key) {
  const bytes = opts.bigMiB * 1024 * 1024;
  const out = { streamedMiB: opts.bigMiB };
  for (const [side, cfg] of [["limit", bareConfig], ["gateway", gwConfig]]) {
    const p = await start(cfg, `${side}-memory`);
    try {
      await post(genUrl(p.url, GEMINI_MODEL), { key });
      await sleep(200);
      const before = memMiB(p.pid);
      const t0 = performance.now();
      const got = await drain(`${p.url}/genai/v1beta/models/gemini/bigstream-${bytes}:streamGenerateContent?alt=sse`, key);
      const seconds = (performance.now() - t0) / 1000;
      const after = memMiB(p.pid);
      if (got.status !== 200 || got.bytes < bytes) throw new Error(`${side} big stream: HTTP ${got.status}, ${got.bytes} bytes`);
      out[side] = { before, after, peakGrowthMiB: after.hwm - before.hwm, receivedMiB: got.bytes / 1048576, seconds, MiBps: got.bytes / 1048576 / seconds };
      log(`memory ${side}: VmHWM ${before.hwm.toFixed(1)} → ${after.hwm.toFixed(1)} MiB while streaming ${(got.bytes / 1048576).toFixed(0)} MiB in ${seconds.toFixed(1)} s`);
    } finally {
      await stop(p);
    }
  }
  return out;
}

/** Reads a response to the end, counting bytes and keeping none. */
function drain(url, key) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", headers: { "content-type": "application/json", "x-goog-api-key": key }, agent: false });
    const timer = setTimeout(() => req.destroy(new Error("big stream timed out")), 120_000);
    req.on("response", (res) => {
      let bytes = 0;
      res.on("data", (d) => (bytes += d.length));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode, bytes });
      });
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end(JSON.stringify({ contents: [{ role: "user", parts: [{ text: "a long answer" }] }] }));
  });
}

/**
 * TTFB and per-chunk delivery through each side, against a lock-stepped upstream (see lib/stream.mjs). The measured
 * streams run in warm isolates, as a deployed gateway's are after its first calls: both sides first serve
 * `streamWarmSeconds` of plain calls under wrk (V8 runs a function's first few hundred calls unoptimised, and a
 * process that served ten streams has not got there). The first streams of the fresh processes are reported too.
 */
async function streaming(gwCfg, bareCfg, key) {
  const up = await streamUpstream({ chunks: opts.chunks, gapMs: opts.gapMs });
  const sides = { limit: await start(bareCfg(up.url), "bare-stream"), gateway: await start(gwCfg(up.url), "gateway-stream") };
  const runs = { limit: [], gateway: [] };
  const cold = { limit: [], gateway: [] };
  let n = 0;
  const probe = (side) => probeStream({ upstream: up, base: sides[side].url, key, id: `s${n++}`, chunks: opts.chunks });
  try {
    for (const side of ["limit", "gateway"]) await probe(side); // the processes' very first call
    for (let i = 0; i < opts.streams; i++) for (const side of i % 2 ? ["gateway", "limit"] : ["limit", "gateway"]) cold[side].push(await probe(side));
    for (const side of ["limit", "gateway"]) {
      await runWrk({ url: genUrl(sides[side].url, GEMINI_MODEL), body: BODY, key, pid: sides[side].pid, connections: 4, seconds: opts.streamWarmSeconds });
    }
    for (let i = 0; i < opts.streams; i++) {
      for (const side of i % 2 ? ["gateway", "limit"] : ["limit", "gateway"]) runs[side].push(await probe(side));
    }
  } finally {
    await Promise.all(Object.values(sides).map(stop));
    await up.close();
  }
  const sum = (side) => {
    const rs = runs[side];
    const delivery = rs.flatMap((r) => r.delivery);
    const gaps = rs.flatMap((r) => r.gaps);
    return {
      ttfbMs: median(rs.map((r) => r.ttfbMs)),
      deliveryP50: median(delivery),
      deliveryP99: quantile(delivery, 0.99),
      gapP50: median(gaps),
      gapP99: quantile(gaps, 0.99),
      heldBack: rs.reduce((a, r) => a + r.heldBack, 0),
      missing: rs.reduce((a, r) => a + r.missing, 0),
      chunks: delivery.length,
    };
  };
  const out = { chunksPerStream: opts.chunks, gapMs: opts.gapMs, streamsPerSide: opts.streams, limit: sum("limit"), gateway: sum("gateway") };
  // Pairwise within a round (streams i of both sides ran back to back).
  out.added = {
    ttfbMs: median(runs.gateway.map((g, i) => g.ttfbMs - runs.limit[i].ttfbMs)),
    coldTtfbMs: median(cold.gateway.map((g, i) => g.ttfbMs - cold.limit[i].ttfbMs)),
    deliveryP50: out.gateway.deliveryP50 - out.limit.deliveryP50,
    deliveryP99: out.gateway.deliveryP99 - out.limit.deliveryP99,
    gapP50: out.gateway.gapP50 - out.limit.gapP50,
  };
  log(`streaming: TTFB bare ${out.limit.ttfbMs.toFixed(2)} ms, gateway ${out.gateway.ttfbMs.toFixed(2)} ms (added: warm ${out.added.ttfbMs.toFixed(2)} ms, first streams of fresh processes ${out.added.coldTtfbMs.toFixed(2)} ms); chunk delivery p50 bare ${out.limit.deliveryP50.toFixed(3)} ms, gateway ${out.gateway.deliveryP50.toFixed(3)} ms; held back: ${out.gateway.heldBack}`);
  return out;
}

/** Time from spawning a fresh workerd to its socket listening, and to the first answer of a real call. */
async function coldStart(gwConfig, bareConfig, key) {
  const runs = { limit: [], gateway: [] };
  for (let i = 0; i < opts.cold; i++) {
    for (const side of i % 2 ? ["gateway", "limit"] : ["limit", "gateway"]) {
      const p = await start(side === "gateway" ? gwConfig : bareConfig, `${side}-cold`);
      try {
        const r = await post(genUrl(p.url, GEMINI_MODEL), { key });
        const answered = performance.now();
        if (r.status !== 200) throw new Error(`${side} cold start answered ${r.status}`);
        runs[side].push({ listenMs: p.listenAt - p.t0, firstAnswerMs: answered - p.t0, cpuMs: cpuMs(p.pid) });
      } finally {
        await stop(p);
      }
    }
  }
  const sum = (rs) => ({ listenMs: median(rs.map((r) => r.listenMs)), firstAnswerMs: median(rs.map((r) => r.firstAnswerMs)), cpuMs: median(rs.map((r) => r.cpuMs)) });
  const out = { runsPerSide: opts.cold, limit: sum(runs.limit), gateway: sum(runs.gateway) };
  log(`cold start: bare ${out.limit.firstAnswerMs.toFixed(0)} ms, gateway ${out.gateway.firstAnswerMs.toFixed(0)} ms to the first answer`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The gateway at `ref`, built as `wrangler deploy --dry-run` builds it: the commit's tree (git archive) beside this
 * checkout's node_modules, so both sides are bundled by the same tools.
 */
function buildBaseline(ref) {
  const dir = path.join(work, "baseline");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const commit = execFileSync("git", ["rev-parse", `${ref}^{commit}`], { cwd: root, encoding: "utf8" }).trim();
  execFileSync("sh", ["-c", `git archive ${commit} | tar -x -C "${dir}"`], { cwd: root });
  symlinkSync(path.join(root, "node_modules"), path.join(dir, "node_modules"));
  const dist = path.join(dir, "dist");
  const out = execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", dist], {
    cwd: dir,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
    encoding: "utf8",
  });
  const upload = /Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/.exec(out);
  return { root: dir, commit, bundlePath: path.join(dist, "index.js"), gzipKiB: upload ? Number(upload[2]) : NaN };
}

function log(s) {
  console.error(`bench: ${s}`);
}

function report(r) {
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "—");
  const sg = (x, d = 2) => (Number.isFinite(x) && x >= 0 ? "+" : "") + f(x, d);
  const rows = [["measure", "bare (limit)", "gateway", "gateway vs limit"]];
  if (r.throughput) {
    const t = r.throughput.summary;
    rows.push([`req/s, ${t.connections} conns`, f(t.limit.rps, 0), f(t.gateway.rps, 0), `× ${f(t.ratio.rps, 3)}`]);
    rows.push([`p50 / p99 ms, ${t.connections} conns`, `${f(t.limit.p50)} / ${f(t.limit.p99)}`, `${f(t.gateway.p50)} / ${f(t.gateway.p99)}`, `${sg(t.added.p50)} / ${sg(t.added.p99)}`]);
    rows.push(["CPU ms per request", f(t.limit.cpuMsPerReq, 3), f(t.gateway.cpuMsPerReq, 3), `× ${f(t.ratio.cpu, 3)} (${sg(t.added.cpuMsPerReq, 3)})`]);
    if (t.vsBaseline) {
      const v = t.vsBaseline;
      rows.push([`baseline ${r.baseline.commit.slice(0, 10)}: req/s, CPU ms/req`, "", `${f(t.baseline.rps, 0)}, ${f(t.baseline.cpuMsPerReq, 3)}`, `× ${f(v.baselineVsLimit.rps, 3)} req/s, × ${f(v.baselineVsLimit.cpu, 3)} CPU`]);
      rows.push(["gateway vs baseline (req/s, CPU)", "", "", `× ${f(v.rps, 3)}, × ${f(v.cpu, 3)}`]);
    }
    const u = r.throughput.usage;
    if (u) rows.push(["usage: shard hand-offs / D1 writes per 1,000 calls", "", `${f(u.shardHandoffsPer1000, 1)} / ${f(u.directWritesPer1000, 1)}`, ""]);
  }
  if (r.latency) {
    const t = r.latency.summary;
    rows.push(["p50 / p99 ms, 1 conn", `${f(t.limit.p50, 3)} / ${f(t.limit.p99, 3)}`, `${f(t.gateway.p50, 3)} / ${f(t.gateway.p99, 3)}`, `${sg(t.added.p50, 3)} / ${sg(t.added.p99, 3)}`]);
  }
  if (r.cache) {
    for (const [c, t] of Object.entries(r.cache)) {
      if (!c.startsWith("c")) continue;
      rows.push([`cache hit: req/s, p50 ms, ${c.slice(1)} conn(s)`, `${f(t.limit.rps, 0)}, ${f(t.limit.p50, 3)}`, `${f(t.hit.rps, 0)}, ${f(t.hit.p50, 3)}`, `× ${f(t.hitVsLimit.rps, 3)} req/s, ${sg(t.hitVsLimit.addedP50, 3)} ms`]);
      rows.push([`cache hit: CPU ms/req, ${c.slice(1)} conn(s)`, f(t.limit.cpuMsPerReq, 3), f(t.hit.cpuMsPerReq, 3), `× ${f(t.hitVsLimit.cpu, 3)}`]);
      if (t.miss) rows.push([`cache miss vs cache not engaged: CPU ms/req`, f(t.off.cpuMsPerReq, 3), f(t.miss.cpuMsPerReq, 3), `${sg(t.missAddedCpuMs, 3)} ms`]);
    }
  }
  if (r.guardrails) {
    const g = r.guardrails;
    for (const [c, t] of Object.entries(g)) {
      if (!/^c\d+$/.test(c)) continue;
      rows.push([`guardrails pii, ${f(g.checkedKiB, 1)} KiB: req/s, p50 ms, ${c.slice(1)} conn(s) (off → on)`, `${f(t.off.rps, 0)}, ${f(t.off.p50, 3)}`, `${f(t.pii.rps, 0)}, ${f(t.pii.p50, 3)}`, `${sg(t.addedP50, 3)} ms p50`]);
      rows.push([`guardrails pii: CPU ms/req, ${c.slice(1)} conn(s) (off → on)`, f(t.off.cpuMsPerReq, 3), f(t.pii.cpuMsPerReq, 3), `${sg(t.addedCpuMs, 3)} ms, ${f(t.cpuMsPerKiB, 4)} ms/KiB`]);
    }
    if (g.stream) rows.push(["guardrails: redacting stream TTFB ms (off → on)", f(g.stream.off.ttfbMs), f(g.stream.redact.ttfbMs), `${sg(g.stream.addedTtfbMs)}`]);
  }
  if (r.traces) {
    const t = r.traces;
    rows.push([`traces on vs off: CPU ms/req, ${t.connections} conns`, f(t.off.cpuMsPerReq, 3), f(t.on.cpuMsPerReq, 3), `${sg(t.addedCpuMs, 3)} ms (req/s × ${f(t.on.rps / t.off.rps, 3)})`]);
  }
  if (r.translation) {
    if (r.translation.skipped) rows.push(["openai translation", "", "", r.translation.note.slice(0, 60) + "…"]);
    else {
      const t = r.translation.summary;
      rows.push([`req/s native → openai`, f(t.native.rps, 0), f(t.translated.rps, 0), `× ${f(t.ratio.rps, 3)} of native`]);
      rows.push([`CPU ms/req native → openai`, f(t.native.cpuMsPerReq, 3), f(t.translated.cpuMsPerReq, 3), `× ${f(t.ratio.cpu, 3)} of native`]);
    }
  }
  if (r.streaming) {
    const s = r.streaming;
    rows.push(["stream TTFB ms (warm)", f(s.limit.ttfbMs), f(s.gateway.ttfbMs), `${sg(s.added.ttfbMs)}`]);
    rows.push(["stream TTFB, first streams (added)", "", "", `${sg(s.added.coldTtfbMs)}`]);
    rows.push(["chunk delivery p50 / p99 ms", `${f(s.limit.deliveryP50, 3)} / ${f(s.limit.deliveryP99, 3)}`, `${f(s.gateway.deliveryP50, 3)} / ${f(s.gateway.deliveryP99, 3)}`, `${sg(s.added.deliveryP50, 3)} / ${sg(s.added.deliveryP99, 3)}`]);
    rows.push(["chunks held back", `${s.limit.heldBack} of ${s.limit.chunks}`, `${s.gateway.heldBack} of ${s.gateway.chunks}`, ""]);
  }
  if (r.memory) {
    const m = r.memory;
    rows.push([`peak RSS MiB, ${m.streamedMiB} MiB stream`, `${f(m.limit.before.hwm, 1)} → ${f(m.limit.after.hwm, 1)}`, `${f(m.gateway.before.hwm, 1)} → ${f(m.gateway.after.hwm, 1)}`, `${sg(m.gateway.peakGrowthMiB, 1)} MiB`]);
  }
  if (r.coldStart) {
    const c = r.coldStart;
    rows.push(["cold start ms (listen / 1st answer)", `${f(c.limit.listenMs, 0)} / ${f(c.limit.firstAnswerMs, 0)}`, `${f(c.gateway.listenMs, 0)} / ${f(c.gateway.firstAnswerMs, 0)}`, `${sg(c.gateway.firstAnswerMs - c.limit.firstAnswerMs, 0)}`]);
  }
  rows.push(["bundle gzip KiB", "", f(r.bundle.gzipKiB, 1), `raw ${f(r.bundle.rawKiB, 1)} KiB`]);
  printTable(rows);
  if (r.governance) {
    console.log("");
    const g = r.governance;
    const gov = [["key", "objects", "added p50 ms", "added mean ms", "blocking round trips / call", "Governor requests / 1,000 calls", "usage hand-offs / 1,000 calls"]];
    for (const where of ["near", "far"]) {
      for (const [kind] of KINDS) {
        const o = g[where][kind];
        if (o) gov.push([kind, where === "far" ? `far (+${g.farMs} ms)` : "near", sg(o.addedP50, 3), sg(o.addedMean, 3), f(o.blockingPerCall, 4), f(o.governorPer1000, 1), f(o.handoffsPer1000, 1)]);
      }
    }
    printTable(gov);
  }
  console.log("");
  printTable([["target", "goal", "measured", ""], ...r.targets.map((t) => [t.name, t.goal, t.measured, t.pass === null ? "n/a" : t.pass ? "PASS" : "MISS"])]);
  console.log(`\nload average before ${r.machine.loadBefore.join(" ")}, after ${r.machine.loadAfter.join(" ")} on ${r.machine.cpus} CPUs; results in bench/results.json`);
}

function printTable(rows) {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  rows.forEach((r, j) => {
    console.log(r.map((c, i) => String(c).padEnd(w[i])).join("  ").trimEnd());
    if (j === 0) console.log(w.map((n) => "-".repeat(n)).join("  "));
  });
}

main().catch(async (e) => {
  console.error(e);
  await stopAll();
  process.exit(1);
});
