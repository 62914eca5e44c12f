#!/usr/bin/env node
/**
 * `node bench/usage-sink.mjs`: how usage rows reach D1, measured in plain workerd under the same load:
 *   buffer        the default: each isolate hands rows to a UsageBuffer shard (Durable Object), whose alarm batches
 *                 them into D1. The shards' SQLite is on this machine's disk and in the serving process, so every
 *                 hand-off's commit is paid here (deployed, the objects run beside the Worker, not in it).
 *   buffer-tmpfs  (BENCH_SINK_TMPFS=/dev/shm) the same with its state on tmpfs: no disk flushes, as Miniflare's
 *                 in-memory queue broker had when Cloudflare Queues were measured against it (docs/usage-log.md)
 *   direct        (BENCH_BASELINE_DIR=<a checkout of the previous tree, with node_modules>) one D1 insert per call
 * D1 is the bench's stand-in (lib/d1-sink.mjs), which counts calls and statements. Per round and variant: wrk
 * at BENCH_CONNECTIONS, then wait until the D1 stand-in has seen every row (the sink drained); CPU per call is the
 * workerd process's CPU over load and drain divided by the calls, so deferred batch writes are counted.
 * Knobs: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_CONNECTIONS (32). Writes bench/usage-sink.json.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { cpuMs, loadAverage } from "./lib/proc.mjs";
import { checkWrk, runWrk } from "./lib/wrk.mjs";
import { startD1Sink } from "./lib/d1-sink.mjs";
import { compatOf, prepareGateway, serve, simpleConfig, withVars } from "./lib/workerd.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench-sink");
const int = (name, d) => (process.env[name] ? Number(process.env[name]) : d);
const opts = { rounds: int("BENCH_ROUNDS", 3), seconds: int("BENCH_SECONDS", 5), connections: int("BENCH_CONNECTIONS", 32) };
const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef0123456789";
const BODY = JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Say hello in one short sentence." }] }], generationConfig: { maxOutputTokens: 64 } });
const URL_PATH = "/genai/v1beta/models/gemini/gemini-2.0-flash:generateContent";

const log = (s) => console.error(`bench: ${s}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};

function bundle(dir, out) {
  execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out], {
    cwd: dir,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" },
    stdio: "pipe",
  });
  return path.join(out, "index.js");
}

async function variant(name, dir, config, stateRoot = work) {
  const stateDir = path.join(stateRoot, name);
  rmSync(stateDir, { recursive: true, force: true });
  const sink = await startD1Sink();
  const base = await prepareGateway({
    root: dir, bundlePath: bundle(dir, path.join(work, `${name}-dist`)), stateDir, config, sink,
    vars: { ADMIN_TOKEN, GEMINI_API_KEY: "bench-gemini-key" },
  });
  return { name, base, sink };
}

const d1Stats = (v) => v.sink.stats();

/** Waits until the D1 stand-in has taken `rows` more statements than `before` (every row of the round). */
async function drained(v, before, rows) {
  const t0 = performance.now();
  for (;;) {
    const s = await d1Stats(v);
    if (s.statements - before.statements >= rows) return { ...s, drainMs: performance.now() - t0 };
    if (performance.now() - t0 > 60_000) throw new Error(`${v.name}: only ${s.statements - before.statements} of ${rows} rows reached D1 in 60 s`);
    await sleep(100);
  }
}

async function main() {
  checkWrk();
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const variants = [await variant("buffer", root, path.join(root, "wrangler.toml"))];
  if (process.env.BENCH_SINK_TMPFS) {
    // The buffer with its state (Durable Object SQLite) on tmpfs: no disk flushes, as the queue broker (in memory).
    variants.push(await variant("buffer-tmpfs", root, path.join(root, "wrangler.toml"), path.join(process.env.BENCH_SINK_TMPFS, "edgeway-bench-sink")));
  }
  if (process.env.BENCH_BASELINE_DIR) {
    const dir = path.resolve(process.env.BENCH_BASELINE_DIR);
    variants.push(await variant("direct", dir, path.join(dir, "wrangler.toml")));
  }
  const upstream = await serve(simpleConfig({ name: "upstream", modulePath: path.join(root, "bench", "workers", "upstream.mjs"), compat: compatOf(variants[0].base) }), { dir: work, label: "upstream" });
  const procs = [upstream];
  try {
    for (const v of variants) {
      v.p = await serve(withVars(v.base, { GEMINI_BASE_URL: upstream.url }), { dir: work, label: v.name });
      procs.push(v.p);
      const r = await fetch(`${v.p.url}/admin/keys`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "bench" }) });
      if (r.status !== 201) throw new Error(`${v.name}: creating the key answered ${r.status} ${await r.text()}`);
      v.key = (await r.json()).key;
      // Warm-up (not measured), drained like a round.
      const before = await d1Stats(v);
      const w = await runWrk({ url: v.p.url + URL_PATH, body: BODY, key: v.key, pid: v.p.pid, connections: opts.connections, seconds: 2 });
      await drained(v, before, w.requests);
      v.rounds = [];
    }
    for (let i = 0; i < opts.rounds; i++) {
      for (const v of i % 2 ? [...variants].reverse() : variants) {
        const before = await d1Stats(v);
        const cpu0 = cpuMs(v.p.pid);
        const w = await runWrk({ url: v.p.url + URL_PATH, body: BODY, key: v.key, pid: v.p.pid, connections: opts.connections, seconds: opts.seconds });
        if (!w.requests || w.non2xx || w.socketErrors) throw new Error(`${v.name}: ${w.requests} requests, ${w.non2xx} non-2xx, ${w.socketErrors} socket errors`);
        const after = await drained(v, before, w.requests);
        const calls = after.calls - before.calls;
        const round = {
          rps: w.rps, p50: w.p50, p99: w.p99, requests: w.requests,
          cpuMsPerCall: (cpuMs(v.p.pid) - cpu0) / w.requests,
          cpuMsPerCallUnderLoad: w.cpuMsPerReq,
          d1Calls: calls, rowsPerD1Call: (after.statements - before.statements) / calls, maxRowsPerD1Call: after.maxBatch, drainMs: after.drainMs,
        };
        v.rounds.push(round);
        log(`round ${i + 1} ${v.name}: ${w.rps.toFixed(0)} req/s, p50 ${w.p50.toFixed(2)} ms, CPU ${round.cpuMsPerCall.toFixed(3)} ms/call (${w.cpuMsPerReq.toFixed(3)} under load), ${calls} D1 calls, ${round.rowsPerD1Call.toFixed(1)} rows each, drained ${after.drainMs.toFixed(0)} ms after the load`);
      }
    }
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
  const summary = Object.fromEntries(
    variants.map((v) => [v.name, Object.fromEntries(["rps", "p50", "p99", "cpuMsPerCall", "cpuMsPerCallUnderLoad", "rowsPerD1Call", "drainMs"].map((k) => [k, median(v.rounds.map((r) => r[k]))]))]),
  );
  const results = { date: new Date().toISOString(), machine: { cpus: os.cpus().length, load: loadAverage() }, options: opts, summary, rounds: Object.fromEntries(variants.map((v) => [v.name, v.rounds])) };
  writeFileSync(path.join(import.meta.dirname, "usage-sink.json"), JSON.stringify(results, null, 2) + "\n");
  console.log(["variant", "req/s", "p50 ms", "CPU ms/call", "rows per D1 call", "drain ms"].join("\t"));
  for (const [name, s] of Object.entries(summary)) {
    console.log([name, s.rps.toFixed(0), s.p50.toFixed(2), s.cpuMsPerCall.toFixed(3), s.rowsPerD1Call.toFixed(1), s.drainMs.toFixed(0)].join("\t"));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
