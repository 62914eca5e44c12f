#!/usr/bin/env node
/**
 * `node bench/cache-ops.mjs`: what one Workers Cache API operation costs the runtime, apart from the gateway: a
 * Worker that makes one `match` (a miss), one `put`, one upstream subrequest, or nothing per request, each driven by
 * wrk at 16 connections against the same Cache API stand-in the cache bench uses (lib/cache-sink.mjs). The CPU per
 * request above the Worker that does nothing is the operation's own cost: the floor under a cache miss's added CPU,
 * whatever the gateway does (docs/benchmarks.md, "Response cache"). Knobs: CACHE_OPS_SECONDS (3), CACHE_OPS_ROUNDS (3).
 */
import path from "node:path";
import { startCacheSink } from "./lib/cache-sink.mjs";
import { checkWrk, runWrk } from "./lib/wrk.mjs";
import { serve, simpleConfig } from "./lib/workerd.mjs";

checkWrk();
const seconds = Number(process.env.CACHE_OPS_SECONDS ?? 3);
const rounds = Number(process.env.CACHE_OPS_ROUNDS ?? 3);
const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench-cache-ops");
// The gateway's compatibility settings, read from wrangler.toml as the bench does.
const { readFileSync } = await import("node:fs");
const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
const compat = {
  compatibilityDate: /compatibility_date\s*=\s*"([^"]+)"/.exec(toml)[1],
  compatibilityFlags: JSON.parse(/compatibility_flags\s*=\s*(\[[^\]]*\])/.exec(toml)?.[1] ?? "[]"),
};
const sink = await startCacheSink();
const upstream = await serve(simpleConfig({ name: "upstream", modulePath: path.join(import.meta.dirname, "workers", "upstream.mjs"), compat }), { dir: work, label: "upstream" });
const config = simpleConfig({ name: "ops", modulePath: path.join(import.meta.dirname, "workers", "cache-ops.mjs"), compat, bindings: [{ name: "UPSTREAM", text: upstream.url }] });
config.services.push({ name: "cache-sink", external: { address: sink.address, http: {} } });
config.services[0].worker.cacheApiOutbound = { name: "cache-sink" };
const ops = await serve(config, { dir: work, label: "cache-ops" });
const ms = { none: [], match: [], put: [], fetch: [] };
try {
  for (const op of Object.keys(ms)) await runWrk({ url: `${ops.url}/${op}`, body: "{}", key: "", pid: ops.pid, connections: 16, seconds: 1 });
  for (let i = 0; i < rounds; i++) {
    for (const op of Object.keys(ms)) ms[op].push((await runWrk({ url: `${ops.url}/${op}`, body: "{}", key: "", pid: ops.pid, connections: 16, seconds })).cpuMsPerReq);
  }
} finally {
  await ops.stop();
  await upstream.stop();
  await sink.close();
}
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const none = median(ms.none);
console.log(`CPU per request, median of ${rounds} rounds × ${seconds} s (workerd process; a Worker doing nothing: ${none.toFixed(3)} ms)`);
for (const op of ["match", "put", "fetch"]) console.log(`  ${op.padEnd(6)} ${median(ms[op]).toFixed(3)} ms  (+${(median(ms[op]) - none).toFixed(3)} ms for the operation)`);
