/**
 * Compaction: rows older than the retention window move to the R2 archive (gzip NDJSON by hour) and out of D1,
 * nothing lost or duplicated, while /admin/usage (the rollups), budgets and /admin/logs (D1, then the archive, with
 * one cursor) go on answering as before.
 *
 * Each test works in its own era, years before any other test's rows, and later than the one before: the
 * compaction point only rises, and D1 takes no row older than it.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { listKeys, readObject } from "../../src/usage/archive";
import { archiveState, compactUsage, type CompactOptions } from "../../src/usage/compact";
import { usageLog } from "../../src/governance/usage-log";
import type { CallRecord } from "../../src/usage/row";
import { HOUR_MS, writeRows } from "../../src/usage/rollups";
import { admin } from "../helpers/worker";

afterEach(() => {
  vi.restoreAllMocks();
});
// Thousands of rows through D1 and R2 on a shared machine.
vi.setConfig({ testTimeout: 60_000 });

const DAY = 86_400_000;
const era = (n: number) => Date.UTC(2001, n * 2, 1, 10, 30); // two months apart

function record(tag: string, i: number, ts: number, over: Partial<CallRecord> = {}): CallRecord {
  return {
    request_id: `${tag}-${String(i).padStart(5, "0")}`, ts, key_id: `${tag}-key`, team_id: `${tag}-team`, requested_model: "mock/echo",
    provider: "mock", model: "echo", action: "generateContent", stream: false, status: i % 9 ? 200 : 503, outcome: i % 9 ? "ok" : "error",
    error: i % 9 ? null : "upstream 503", attempts: [{ target: "mock/echo", status: 200, reason: "ok", latency_ms: 3 }],
    fallback_index: 0, tokens: { input: 10 + (i % 7), output: 5, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0.001, latency_ms: 40 + (i % 300), ttfb_ms: 9,
    ...over,
  };
}

async function store(rows: CallRecord[], tag: string): Promise<Set<string>> {
  const stored = new Set<string>();
  for (let i = 0; i < rows.length; i += 100) {
    for (const id of (await writeRows(env.DB, JSON.stringify(rows.slice(i, i + 100)), `test:${tag}:${i}`)).ids) stored.add(id);
  }
  return stored;
}

/** The request ids of the tag in D1, and in the archive (with their count: a duplicate would show). */
async function whereRows(tag: string) {
  const d1 = (await env.DB.prepare("SELECT request_id FROM usage WHERE key_id = ?").bind(`${tag}-key`).all<{ request_id: string }>()).results.map((r) => r.request_id);
  const archived: string[] = [];
  for (const key of await listKeys(env.USAGE_ARCHIVE!, "usage/v1/2001/")) {
    for (const r of await readObject(env.USAGE_ARCHIVE!, key)) if (r.key_id === `${tag}-key`) archived.push(r.request_id);
  }
  return { d1, archived };
}

async function checksum(ids: string[]): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode([...ids].sort().join("\n")));
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function compactAll(opts: CompactOptions) {
  for (let i = 0; i < 50; i++) if ((await compactUsage(env, opts)).done) return;
  throw new Error("compaction did not finish");
}

const usageOf = async (tag: string, extra = "") =>
  (await (await admin(`/usage?key_id=${tag}-key${extra}`)).json()) as { totals: Record<string, number>; groups?: Record<string, unknown>[]; archive: Record<string, unknown> };

describe("compaction", () => {
  it("moves rows before the window to R2 and out of D1: nothing lost or duplicated, even after a run that failed half-way", async () => {
    const tag = `cm-${crypto.randomUUID().slice(0, 8)}`;
    const t = era(0);
    // 10:30 to 13:00, before the cut.
    const old = Array.from({ length: 2_500 }, (_, i) => record(tag, i, t + Math.floor((i * 2.5 * HOUR_MS) / 2_500)));
    const now = t + 7 * DAY + 3 * HOUR_MS; // the default window is 7 days: the cut falls at t + 3 h (a whole hour)
    const cut = Math.floor((now - 7 * DAY) / HOUR_MS) * HOUR_MS;
    const young = Array.from({ length: 120 }, (_, i) => record(tag, 10_000 + i, cut + i * 1000));
    expect((await store([...old, ...young], tag)).size).toBe(2_620);
    const before = await usageOf(tag);
    const beforeByHour = await usageOf(tag, "&group_by=hour");

    // A run whose D1 delete fails after its object was written: nothing leaves D1, and the next run writes the same
    // object again (same name, same rows), not a second copy.
    const batch = env.DB.batch.bind(env.DB);
    vi.spyOn(env.DB, "batch").mockImplementationOnce(() => Promise.reject(new Error("D1_ERROR: simulated outage")));
    await expect(compactUsage(env, { now, chunkRows: 700, maxChunks: 2 })).rejects.toThrow("simulated outage");
    vi.mocked(env.DB.batch).mockImplementation(batch);
    expect((await whereRows(tag)).d1).toHaveLength(2_620);

    const partial = await compactUsage(env, { now, chunkRows: 700, maxChunks: 2 });
    // Two chunks, each within one hour: the first half hour's 500 rows, then 700 of the next hour's.
    expect(partial).toMatchObject({ archived_rows: 1_200, archive_objects: 2, done: false, compacted_before: new Date(cut).toISOString() });
    await compactAll({ now, chunkRows: 700 });

    const { d1, archived } = await whereRows(tag);
    expect(d1.sort()).toEqual(young.map((r) => r.request_id).sort());
    expect(archived).toHaveLength(old.length);
    expect(new Set(archived).size).toBe(old.length);
    expect(await checksum(archived)).toBe(await checksum(old.map((r) => r.request_id)));
    // Objects are by hour: usage/v1/YYYY/MM/DD/HH/<first ts>-<hash>.ndjson.gz, each row as /admin/logs shows it.
    const keys = await listKeys(env.USAGE_ARCHIVE!, "usage/v1/2001/01/01/");
    expect(keys.every((k) => /^usage\/v1\/2001\/01\/01\/1[0-3]\/\d+-[0-9a-f]{16}\.ndjson\.gz$/.test(k))).toBe(true);
    const sample = (await readObject(env.USAGE_ARCHIVE!, keys.find((k) => k.includes("/10/"))!)).find((r) => r.request_id === old[0]!.request_id);
    expect(sample).toEqual({ ...old[0], batch_id: `test:${tag}:0` });

    // The figures do not move: they come from the rollups, which keep every hour.
    expect(await usageOf(tag)).toMatchObject({ totals: before.totals });
    expect((await usageOf(tag, "&group_by=hour")).groups).toEqual(beforeByHour.groups);
    // A Governor starting a budget reads the same hours.
    const spend = await usageLog.spendByHour(env.DB, "key", `${tag}-key`, 0);
    expect(spend.reduce((n, h) => n + h.usd, 0)).toBeCloseTo(2.62, 9);
    // Minute rollups before the cut are gone; the hourly ones stay.
    const minutes = await env.DB.prepare("SELECT count(*) AS n FROM usage_minute WHERE key_id = ? AND bucket < ?").bind(`${tag}-key`, cut).first<number>("n");
    expect(minutes).toBe(0);
    expect((await usageOf(tag)).archive).toMatchObject({ bound: true, retention_days: 7, compacted_before: new Date(cut).toISOString() });

    // A late replay of an archived row is not stored, nor counted, again.
    expect((await writeRows(env.DB, JSON.stringify([old[5]]), "test:replay")).ids.size).toBe(0);
    expect((await whereRows(tag)).d1).toHaveLength(120);
    expect((await usageOf(tag)).totals).toEqual(before.totals);
  });

  it("folds refusal counters before the window into one per key, hour, status and reason", async () => {
    const tag = `cr-${crypto.randomUUID().slice(0, 8)}`;
    const t = era(1) - (era(1) % HOUR_MS);
    const insert = env.DB.prepare("INSERT INTO refusals (ts, key_id, team_id, status, reason, shard, count) VALUES (?, ?, ?, 429, 'requests/min', ?, ?)");
    await env.DB.batch([
      insert.bind(t, `${tag}-key`, null, "usage", 3), insert.bind(t, `${tag}-key`, null, "usage:1", 4),
      insert.bind(t + 60_000, `${tag}-key`, null, "usage", 5), insert.bind(t + HOUR_MS + 60_000, `${tag}-key`, null, "usage", 7),
    ]);
    const before = await usageOf(tag);
    expect(before.totals.refused).toBe(19);
    await compactAll({ now: t + 7 * DAY + 3 * HOUR_MS });
    const rows = (await env.DB.prepare("SELECT ts, shard, count FROM refusals WHERE key_id = ? ORDER BY ts").bind(`${tag}-key`).all()).results;
    expect(rows).toEqual([{ ts: t, shard: "*hour", count: 12 }, { ts: t + HOUR_MS, shard: "*hour", count: 7 }]);
    expect((await usageOf(tag)).totals.refused).toBe(19);
  });

  it("races live inserts: every row stored is in D1 or in the archive, once, and counted once", async () => {
    const tag = `cx-${crypto.randomUUID().slice(0, 8)}`;
    const t = era(2);
    const now = t + 7 * DAY + 2 * HOUR_MS;
    const cut = Math.floor((now - 7 * DAY) / HOUR_MS) * HOUR_MS;
    // Rows on both sides of the cut, written while compaction runs; some of those before it arrive after the
    // compaction point rose (late replays, as D1 sees them): not stored, and not reported as stored.
    const rows = Array.from({ length: 1_200 }, (_, i) => record(tag, i, cut - HOUR_MS + Math.floor((i * 2 * HOUR_MS) / 1_200)));
    const order = rows.map((_, i) => i).sort((a, b) => ((a * 7919) % 1201) - ((b * 7919) % 1201)).map((i) => rows[i]!);
    const [stored] = await Promise.all([
      store(order, tag),
      (async () => {
        for (let i = 0; i < 12; i++) await compactUsage(env, { now, chunkRows: 150, maxChunks: 2 });
      })(),
    ]);
    await compactAll({ now, chunkRows: 500 });
    const { d1, archived } = await whereRows(tag);
    expect(new Set([...d1, ...archived]).size).toBe(d1.length + archived.length);
    expect(await checksum([...d1, ...archived])).toBe(await checksum([...stored]));
    expect(d1.every((id) => rows.find((r) => r.request_id === id)!.ts >= cut)).toBe(true);
    // Every row at or after the cut was stored.
    expect(d1.length).toBe(rows.filter((r) => r.ts >= cut).length);
    expect((await usageOf(tag)).totals.requests).toBe(stored.size);
  });
});

describe("/admin/logs across D1 and the archive", () => {
  it("pages newest first with one cursor, from D1 into the archive, with filters, nothing skipped or repeated", async () => {
    const tag = `cl-${crypto.randomUUID().slice(0, 8)}`;
    const t = era(3);
    const now = t + 7 * DAY + 3 * HOUR_MS;
    const rows = Array.from({ length: 420 }, (_, i) => record(tag, i, t + Math.floor((i * 5 * HOUR_MS) / 420)));
    // Whatever an earlier test left before this era goes first (compaction always moves the oldest rows).
    await compactAll({ now: t - HOUR_MS + 7 * DAY });
    await store(rows, tag);
    // Part of the rows before the cut moved, part not yet: three places a page may read from.
    await compactUsage(env, { now, chunkRows: 90, maxChunks: 2 });
    const state = await archiveState(env.DB);
    expect(state.archived).not.toBeNull();
    const placed = await whereRows(tag);
    // Two chunks within an hour each: the first half hour's 42 rows, then 84 of the next hour's.
    expect(placed.archived.length).toBe(126);
    expect(placed.d1.length).toBe(294);

    const pageAll = async (filter: string, limit: number) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let n = 0; n < 100; n++) {
        const res = await admin(`/logs?key_id=${tag}-key${filter}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`);
        expect(res.status).toBe(200);
        const body = (await res.json()) as { logs: CallRecord[]; next_cursor?: string };
        seen.push(...body.logs.map((r) => r.request_id));
        if (!body.next_cursor) return seen;
        cursor = body.next_cursor;
      }
      throw new Error("no last page");
    };
    const newest = (rs: CallRecord[]) => [...rs].sort((a, b) => b.ts - a.ts || (a.request_id < b.request_id ? 1 : -1)).map((r) => r.request_id);
    expect(await pageAll("", 37)).toEqual(newest(rows));
    expect(await pageAll("&outcome=error", 5)).toEqual(newest(rows.filter((r) => r.outcome === "error")));
    expect(await pageAll(`&from=${t + HOUR_MS}&to=${t + 4 * HOUR_MS}`, 50)).toEqual(newest(rows.filter((r) => r.ts >= t + HOUR_MS && r.ts < t + 4 * HOUR_MS)));
    // An archived row reads back as D1 showed it (no batch_id, as in D1's rows).
    const one = (await (await admin(`/logs?key_id=${tag}-key&request_id=${rows[0]!.request_id}`)).json()) as { logs: CallRecord[] };
    expect(one.logs).toEqual([rows[0]]);
  });
});
