#!/usr/bin/env node
/**
 * The usage log at scale: fills a local D1 (Miniflare, on disk under .wrangler/bench-usage) with ROWS usage rows
 * (default 1,000,000), then prints EXPLAIN QUERY PLAN and timings for the queries /admin/usage and /admin/logs
 * run — the SQL comes from src/usage/queries.ts itself — and times the endpoints through the bundled gateway.
 *
 *   node bench/usage-queries.mjs            # ROWS=200000 node bench/usage-queries.mjs for a quicker run
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { applyMigrations, fillUsage } from "./lib/synthetic-usage.mjs";

const root = path.resolve(import.meta.dirname, "..");
const work = path.join(root, ".wrangler", "bench-usage");
const ROWS = Number(process.env.ROWS ?? 1_000_000);
const RUNS = 5;
const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef";
const DAY = 86_400_000;
const T_END = Date.UTC(2026, 0, 1);
const T_START = T_END - 90 * DAY;

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// The gateway as deployed, and the query builders it uses.
execFileSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", path.join(work, "dist")], {
  cwd: root,
  env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" },
  stdio: "pipe",
});
await build({ entryPoints: [path.join(root, "src/usage/queries.ts")], bundle: true, format: "esm", platform: "neutral", outfile: path.join(work, "queries.mjs"), logLevel: "error" });
const { usageSql, logsSql, encodeCursor } = await import(pathToFileURL(path.join(work, "queries.mjs")).href);

const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(work, "dist", "index.js"),
  compatibilityDate: "2026-04-01",
  d1Databases: { DB: "edgeway-bench" },
  kvNamespaces: ["VIRTUAL_KEYS"],
  durableObjects: { USAGE_BUFFER: { className: "UsageBuffer", useSQLite: true } },
  bindings: { ADMIN_TOKEN },
  d1Persist: path.join(work, "d1"),
  durableObjectsPersist: path.join(work, "do"),
});
const db = await mf.getD1Database("DB");
// The rows go in before the rollups' migration, which rolls up what is there, so /admin/usage has rollups to read.
await applyMigrations(db, (f) => f < "0008");
let t = performance.now();
await fillUsage(db, { rows: ROWS, start: T_START, span: 90 * DAY });
await applyMigrations(db, (f) => f >= "0008");
const count = await db.prepare("SELECT count(*) AS n FROM usage").first("n");
console.log(`# usage log bench: ${count} rows in ${((performance.now() - t) / 1000).toFixed(1)} s (insert + indexes), ${RUNS} runs each\n`);

const last = await db.prepare("SELECT ts, request_id FROM usage WHERE key_id = 'key_7' ORDER BY ts DESC, request_id DESC LIMIT 1 OFFSET ?").bind(Math.min(99, Math.floor(ROWS / 2000))).first();
const lastAll = await db.prepare("SELECT ts, request_id FROM usage ORDER BY ts DESC, request_id DESC LIMIT 1 OFFSET 99").first();
const week = { from: T_END - 7 * DAY, to: T_END };
const cases = [
  ["usage: totals, all time", usageSql({}), "/usage"],
  ["usage: totals, last 7 days", usageSql(week), `/usage?from=${week.from}&to=${week.to}`],
  ["usage: group_by=model, last 7 days", usageSql({ ...week, group_by: "model" }), `/usage?from=${week.from}&to=${week.to}&group_by=model`],
  ["usage: group_by=day, all time", usageSql({ group_by: "day" }), "/usage?group_by=day"],
  ["usage: group_by=key, all time", usageSql({ group_by: "key" }), "/usage?group_by=key"],
  ["usage: key_id, group_by=day", usageSql({ key_id: "key_7", group_by: "day" }), "/usage?key_id=key_7&group_by=day"],
  ["usage: team_id, group_by=model, last 7 days", usageSql({ ...week, team_id: "team_7", group_by: "model" }), `/usage?team_id=team_7&from=${week.from}&to=${week.to}&group_by=model`],
  ["logs: first page (100)", logsSql({}, undefined, 101), "/logs"],
  ["logs: second page (cursor)", logsSql({}, { ts: lastAll.ts, requestId: lastAll.request_id }, 101), `/logs?cursor=${encodeCursor(lastAll.ts, lastAll.request_id)}`],
  ["logs: key_id, first page", logsSql({ key_id: "key_7" }, undefined, 101), "/logs?key_id=key_7"],
  ["logs: key_id, second page", logsSql({ key_id: "key_7" }, { ts: last.ts, requestId: last.request_id }, 101), `/logs?key_id=key_7&cursor=${encodeCursor(last.ts, last.request_id)}`],
  ["logs: team_id, first page", logsSql({ team_id: "team_7" }, undefined, 101), "/logs?team_id=team_7"],
];

const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn) {
  await fn(); // warm
  const xs = [];
  for (let i = 0; i < RUNS; i++) {
    const s = performance.now();
    await fn();
    xs.push(performance.now() - s);
  }
  return median(xs);
}

const out = [];
for (const [name, { sql, args }, endpoint] of cases) {
  const plan = (await db.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...args).all()).results.map((r) => r.detail);
  const d1Ms = await time(() => db.prepare(sql).bind(...args).all());
  const httpMs = await time(async () => {
    const r = await mf.dispatchFetch(`http://gw.bench/admin${endpoint}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (r.status !== 200) throw new Error(`${endpoint}: ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
  });
  out.push({ name, d1Ms, httpMs });
  console.log(`## ${name}\n${sql.replace(/\s+/g, " ")}\n  plan: ${plan.join(" | ")}\n  D1 query: ${d1Ms.toFixed(1)} ms, GET /admin${endpoint.split("?")[0]}: ${httpMs.toFixed(1)} ms (median)\n`);
}
console.log("| query | D1 (ms) | endpoint (ms) |\n| --- | ---: | ---: |");
for (const o of out) console.log(`| ${o.name} | ${o.d1Ms.toFixed(1)} | ${o.httpMs.toFixed(1)} |`);
await mf.dispose();
