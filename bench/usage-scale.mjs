#!/usr/bin/env node
/**
 * The usage log at production scale (docs/usage-log.md): fills a local D1 (Miniflare, on disk under
 * .wrangler/bench-scale) with ROWS synthetic usage rows (default 10,000,000; ROWS=1000000 for a quicker run) over
 * DAYS days, then reports
 *   - D1 bytes per row (the database file over the rows), before and after compaction;
 *   - GET /admin/usage over 30 days and GET /admin/logs (first and a later page) through the bundled gateway, with
 *     every row still in D1 and the rollups as the hourly cron keeps them (days and span blocks folded), and as the
 *     raw rows answer it (the query it ran before, for comparison);
 *   - D1 rows written per call (D1's own meta.rows_written) for the designs considered: the row alone, the row with
 *     per-batch rollup upserts (this one) at a dense and a sparse traffic mix, a rollup write per row (a trigger), and
 *     compaction's delete of a row;
 *   - the same queries after compaction moved every row older than USAGE_RETENTION_DAYS to the local R2 archive.
 *
 *   ROWS=1000000 node bench/usage-scale.mjs
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { applyMigrations, fillUsage } from "./lib/synthetic-usage.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench-scale");
const ROWS = Number(process.env.ROWS ?? 10_000_000);
const DAYS = Number(process.env.DAYS ?? 90);
const RETENTION_DAYS = Number(process.env.RETENTION_DAYS ?? 7);
const RUNS = 5;
const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";
const DAY = 86_400_000;
const HOUR = 3_600_000;
// The rows end an hour ago, so compaction (which uses the real clock) keeps the last RETENTION_DAYS of them.
const T_END = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
const T_START = T_END - DAYS * DAY;

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", path.join(work, "dist")], {
  cwd: root,
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  stdio: "pipe",
});
await build({
  stdin: { contents: `export * from "./src/usage/queries.ts"; export * from "./src/usage/rollups.ts"; export { foldDays, foldSpans } from "./src/usage/compact.ts";`, resolveDir: root, loader: "ts" },
  bundle: true, format: "esm", platform: "neutral", outfile: path.join(work, "lib.mjs"), logLevel: "error",
  // compact.ts's imports reach the UsageBuffer class; in Node its base class is a stand-in (the object is not used here).
  plugins: [{
    name: "workers-stub",
    setup(b) {
      b.onResolve({ filter: /^cloudflare:workers$/ }, () => ({ path: "cloudflare:workers", namespace: "stub" }));
      b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({ contents: "export class DurableObject {}", loader: "js" }));
    },
  }],
});
const { usageSql, logsSql, rowsStatements, foldDays, foldSpans } = await import(pathToFileURL(path.join(work, "lib.mjs")).href);

const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(work, "dist", "index.js"),
  compatibilityDate: "2026-04-01",
  compatibilityFlags: ["enable_request_signal"],
  d1Databases: { DB: "edgeway-bench" },
  kvNamespaces: ["VIRTUAL_KEYS"],
  r2Buckets: ["USAGE_ARCHIVE"],
  durableObjects: { USAGE_BUFFER: { className: "UsageBuffer", useSQLite: true }, GOVERNOR: { className: "Governor", useSQLite: true } },
  bindings: { ADMIN_TOKEN, USAGE_RETENTION_DAYS: String(RETENTION_DAYS) },
  d1Persist: path.join(work, "d1"),
  r2Persist: path.join(work, "r2"),
  durableObjectsPersist: path.join(work, "do"),
});
const db = await mf.getD1Database("DB");
// The rows go in before the rollups' migration, which rolls up what is there (as for a gateway upgraded with rows).
await applyMigrations(db, (f) => f < "0008");
let t = performance.now();
await fillUsage(db, {
  rows: ROWS, start: T_START, span: DAYS * DAY,
  onProgress: (n) => n % 1_000_000 === 0 && n < ROWS && process.stdout.write(`  ${n} rows\n`),
});
const fillS = (performance.now() - t) / 1000;
t = performance.now();
await applyMigrations(db, (f) => f >= "0008");
const rollupS = (performance.now() - t) / 1000;
// What the hourly cron keeps up with every hour: whole days folded into usage_day and the span blocks built, with
// nothing archived yet (the state of a gateway whose retention window held all these rows).
t = performance.now();
while (!(await foldDays(db, Date.now()))) {}
while (!(await foldSpans(db))) {}
const foldS = (performance.now() - t) / 1000;

const count = async (table) => (await db.prepare(`SELECT count(*) AS n FROM ${table}`).first("n"));
const dbBytes = () => {
  let total = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.sqlite(-wal)?$/.test(e.name)) total += statSync(p).size;
    }
  };
  walk(path.join(work, "d1"));
  return total;
};
await db.prepare("VACUUM").run().catch(() => {});
const rows0 = await count("usage");
const bytes0 = dbBytes();
console.log(`# usage log at scale: ${rows0} rows over ${DAYS} days (fill ${fillS.toFixed(0)} s, rollups of them ${rollupS.toFixed(0)} s, days and spans folded as the cron does ${foldS.toFixed(0)} s)`);
console.log(`rollups: ${await count("usage_minute")} minute rows, ${await count("usage_hour")} hour rows, ${await count("usage_day")} day rows, ${await count("usage_span")} span rows`);
console.log(`D1: ${(bytes0 / 1e6).toFixed(0)} MB, ${(bytes0 / rows0).toFixed(0)} bytes per usage row (rows, indexes and rollups)\n`);

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn, runs = RUNS) {
  await fn();
  const xs = [];
  for (let i = 0; i < runs; i++) {
    const s = performance.now();
    await fn();
    xs.push(performance.now() - s);
  }
  return median(xs);
}
const get = async (p) => {
  const r = await mf.dispatchFetch(`http://gw.bench/admin${p}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (r.status !== 200) throw new Error(`${p}: ${r.status} ${await r.text()}`);
  return r.json();
};
const from30 = T_END - 30 * DAY + 12_345; // not on a minute: the edges come from the rows
const to30 = T_END - 54_321;
const fromYear = T_END - Math.min(365, DAYS) * DAY + 12_345;
const endpointCases = [
  ["usage: totals, 30 days", `/usage?from=${from30}&to=${to30}`, usageSql({ from: from30, to: to30 })],
  ["usage: group_by=day, 30 days", `/usage?from=${from30}&to=${to30}&group_by=day`, usageSql({ from: from30, to: to30, group_by: "day" })],
  ["usage: group_by=model, 30 days", `/usage?from=${from30}&to=${to30}&group_by=model`, usageSql({ from: from30, to: to30, group_by: "model" })],
  ["usage: group_by=key, 30 days", `/usage?from=${from30}&to=${to30}&group_by=key`, usageSql({ from: from30, to: to30, group_by: "key" })],
  ["usage: key_id, group_by=day, all time", `/usage?key_id=key_7&group_by=day`, usageSql({ key_id: "key_7", group_by: "day" })],
  ["usage: totals, all time", `/usage`, usageSql({})],
  // A year (or all of DAYS when shorter), not on a minute: after compaction mostly span rollups (usage_span).
  ["usage: group_by=key, a year", `/usage?from=${fromYear}&to=${to30}&group_by=key`],
  ["usage: group_by=model, a year", `/usage?from=${fromYear}&to=${to30}&group_by=model`],
  ["usage: group_by=key, all time", `/usage?group_by=key`],
];
async function measure(label) {
  const out = [];
  for (const [name, p, raw] of endpointCases) {
    const ms = await time(() => get(p));
    // The raw rows' queries only for comparison: one timed run past 2 million rows, where each scan takes seconds.
    const rawMs = label === "before" && raw ? await time(() => db.prepare(raw.sql).bind(...raw.args).all(), ROWS > 2_000_000 ? 1 : RUNS) : undefined;
    out.push({ name, ms, rawMs });
  }
  const first = await get("/logs?limit=100");
  out.push({ name: "logs: first page (100)", ms: await time(() => get("/logs?limit=100")) });
  // A page well into the past: after compaction it comes from the archive.
  const old = await get(`/logs?limit=1&to=${T_START + 10 * DAY}`);
  const cursor = old.next_cursor;
  out.push({ name: "logs: a page 80 days back (cursor)", ms: await time(() => get(`/logs?limit=100&cursor=${cursor}`)) });
  out.push({ name: "logs: key_id, first page", ms: await time(() => get("/logs?key_id=key_7&limit=100")) });
  void first;
  return out;
}
const before = await measure("before");

// D1 rows written per call, by design, on a fresh table (D1 bills every row inserted, updated or deleted, indexes too).
function synth(n, density, offset) {
  const now = T_END + HOUR;
  return Array.from({ length: n }, (_, i) => {
    const j = offset + i;
    const dense = density === "dense";
    return {
      request_id: `w-${density}-${j}`, ts: now + (dense ? i * 100 : i * 61_000), key_id: `wkey_${dense ? j % 10 : j}`, team_id: `wteam_${dense ? j % 3 : j}`,
      requested_model: "gemini-2.5-flash", provider: "gemini", model: dense ? ["gemini-2.5-flash", "gemini-2.0-flash"][j % 2] : `m${j}`,
      action: "generateContent", stream: false, status: j % 25 ? 200 : 503, outcome: j % 25 ? "ok" : "error", error: null, attempts: [],
      fallback_index: 0, tokens: { input: 100, output: 50, cached: 0, thinking: 0 }, cost_usd: 0.0001, latency_ms: 300 + (j % 900), ttfb_ms: 90,
    };
  });
}
async function written(stmts) {
  const res = await db.batch(stmts);
  return res.reduce((n, r) => n + (r.meta?.rows_written ?? 0), 0);
}
const perCall = [];
for (const density of ["dense", "sparse"]) {
  let rollup = 0;
  let plain = 0;
  const BATCHES = 10;
  for (let b = 0; b < BATCHES; b++) {
    const rows = synth(100, density, b * 100);
    const json = JSON.stringify(rows);
    rollup += await written(rowsStatements(db, json, `bench:${density}:${b}`));
    // The same rows again under new ids, the row alone: the INSERT without rollups.
    const again = JSON.stringify(rows.map((r) => ({ ...r, request_id: `${r.request_id}-plain` })));
    plain += await written([rowsStatements(db, again, `bench:${density}:${b}:plain`).at(-1)]);
  }
  perCall.push({ density, plain: plain / (BATCHES * 100), rollup: rollup / (BATCHES * 100) });
}
const del = await db.prepare("DELETE FROM usage WHERE request_id LIKE 'w-%'").run();
const deletedPerRow = del.meta.rows_written / del.meta.changes;

// Compaction: every row older than the window to R2, through the admin route, as the cron does.
t = performance.now();
let runs = 0;
let moved = 0;
for (;;) {
  const r = await mf.dispatchFetch("http://gw.bench/admin/usage/compact", { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const body = await r.json();
  if (r.status !== 200) throw new Error(JSON.stringify(body));
  runs++;
  moved += body.archived_rows;
  if (body.done) break;
}
const compactS = (performance.now() - t) / 1000;
await db.prepare("VACUUM").run().catch(() => {});
const rows1 = await count("usage");
const bytes1 = dbBytes();
const archive = await db.prepare("SELECT count(*) AS objects, sum(rows) AS rows, sum(bytes) AS bytes FROM usage_archive").first();
console.log(`compaction: ${moved} rows to ${archive.objects} R2 objects (${(archive.bytes / 1e6).toFixed(0)} MB gzip, ${(archive.bytes / archive.rows).toFixed(0)} bytes a row) in ${runs} runs, ${compactS.toFixed(0)} s`);
const spans = await db.prepare("SELECT level, count(*) AS n FROM usage_span GROUP BY level").all().then((r) => r.results.map((x) => `${x.n} at level ${x.level}`).join(", "), () => "none");
console.log(`rollups after: ${await count("usage_hour")} hour rows, ${await count("usage_day")} day rows, span rows: ${spans || "none"}`);
console.log(`D1 after: ${rows1} rows, ${(bytes1 / 1e6).toFixed(0)} MB (VACUUMed; D1 reuses freed pages without it)\n`);
const after = await measure("after");

console.log("| query | raw rows (the query before) | gateway, every row in D1 (rollups as the cron keeps them) | after compaction |\n| --- | ---: | ---: | ---: |");
for (const [i, b] of before.entries()) {
  console.log(`| ${b.name} | ${b.rawMs === undefined ? "" : `${b.rawMs.toFixed(1)} ms`} | ${b.ms.toFixed(1)} ms | ${after[i].ms.toFixed(1)} ms |`);
}
console.log("\n| D1 rows written per call | dense (10 keys, 2 models, 100 calls in 10 s) | sparse (every call its own group) |\n| --- | ---: | ---: |");
console.log(`| row only (no rollups) | ${perCall[0].plain.toFixed(2)} | ${perCall[1].plain.toFixed(2)} |`);
console.log(`| row + per-batch rollup upserts (this design) | ${perCall[0].rollup.toFixed(2)} | ${perCall[1].rollup.toFixed(2)} |`);
// A trigger on the usage table would write both rollups for every row: at least 2 more than the row alone, plus the
// hourly indexes' entries for a new group, as here; so never fewer than this design, as many when every call is its own group.
console.log(`| row + a rollup write per row (trigger design; lower bound) | ≥ ${(perCall[0].plain + 2).toFixed(2)} | ≥ ${(perCall[1].plain + 2).toFixed(2)} |`);
console.log(`| compaction's delete of the row | ${deletedPerRow.toFixed(2)} | ${deletedPerRow.toFixed(2)} |`);
await mf.dispose();
