/**
 * Hourly rollups pruned by compaction (docs/usage-log.md, "Rollups"): once whole days are in usage_day and older than
 * the hourly window, their hours go, and /admin/usage answers the same from usage_day — totals and groups equal a
 * recount of the rows made, nothing counted twice where days meet kept hours, and compaction run again changes nothing.
 *
 * Its own era, after every other compaction test's (the compaction point only rises).
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";

afterEach(() => {
  vi.restoreAllMocks();
});
import { usageLog } from "../../src/governance/usage-log";
import { archiveState, compactUsage, HOURLY_MIN_DAYS, usageBacklog } from "../../src/usage/compact";
import type { CallRecord } from "../../src/usage/row";
import { DAY_MS, HOUR_MS, writeRows } from "../../src/usage/rollups";
import { admin } from "../helpers/worker";

vi.setConfig({ testTimeout: 120_000 });

const t0 = Date.UTC(2002, 0, 1); // a day's start
const DAYS = 8;
const N = 1_600; // one row every 7.2 minutes

function record(tag: string, i: number): CallRecord {
  return {
    request_id: `${tag}-${String(i).padStart(5, "0")}`, ts: t0 + Math.floor((i * DAYS * DAY_MS) / N) + 1_234, key_id: `${tag}-key${i % 3}`,
    team_id: `${tag}-team`, requested_model: "mock/echo", provider: "mock", model: i % 4 ? "echo" : "echo2", action: "generateContent",
    stream: false, status: i % 9 ? 200 : 503, outcome: i % 9 ? "ok" : "error", error: i % 9 ? null : "upstream 503",
    attempts: [{ target: "mock/echo", status: 200, reason: "ok", latency_ms: 3 }], fallback_index: 0,
    tokens: { input: 10 + (i % 7), output: 5, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0.001 * (1 + (i % 5)), latency_ms: 40 + (i % 300), ttfb_ms: 9,
  };
}

type Body = { totals: Record<string, number>; groups?: Record<string, unknown>[] };
const usage = async (q: string) => (await (await admin(`/usage?${q}`)).json()) as Body;

/** What /admin/usage should say of these rows, counted from them. */
type Figures = { requests: number; errors: number; input_tokens: number; cost: number };
function recount(rs: CallRecord[]): Figures {
  return {
    requests: rs.length, errors: rs.filter((r) => r.outcome === "error").length,
    input_tokens: rs.reduce((n, r) => n + r.tokens.input, 0), cost: rs.reduce((n, r) => n + r.cost_usd, 0),
  };
}
function recountBy(rows: CallRecord[], by: (r: CallRecord) => string): Record<string, Figures> {
  const m = new Map<string, CallRecord[]>();
  for (const r of rows) m.set(by(r), [...(m.get(by(r)) ?? []), r]);
  return Object.fromEntries([...m].map(([k, rs]) => [k, recount(rs)]));
}
const figures = (t: Record<string, number>) => ({ requests: t.requests, errors: t.errors, input_tokens: t.input_tokens, cost: t.cost_usd });
function expectSame(got: Record<string, number>, want: Figures) {
  const g = figures(got);
  expect({ ...g, cost: undefined }).toEqual({ ...want, cost: undefined });
  expect(g.cost).toBeCloseTo(want.cost, 9);
}
function expectGroups(body: Body, field: string, want: Record<string, Figures>) {
  const got = Object.fromEntries((body.groups ?? []).map((g) => [String(g[field]), g as unknown as Record<string, number>]));
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectSame(got[k]!, want[k]!);
}

describe("hourly rollups pruned", () => {
  it("drops the hours of folded days past the window; /admin/usage over them equals a recount of the rows", async () => {
    const tag = `pr-${crypto.randomUUID().slice(0, 8)}`;
    const rows = Array.from({ length: N }, (_, i) => record(tag, i));
    for (let i = 0; i < N; i += 100) await writeRows(env.DB, JSON.stringify(rows.slice(i, i + 100)), `test:${tag}:${i}`);

    // The hourly window ends 5 days into the rows: days 0-4 lose their hours, days 5-7 keep them.
    const now = t0 + (5 + HOURLY_MIN_DAYS) * DAY_MS + 3 * HOUR_MS;
    const mark = t0 + 5 * DAY_MS;
    const runs = [];
    for (let i = 0; i < 50; i++) {
      const r = await compactUsage(env, { now });
      runs.push(r);
      if (r.done) break;
    }
    expect(runs.at(-1)!.done).toBe(true);
    expect(runs.reduce((n, r) => n + r.hour_rollups_dropped, 0)).toBeGreaterThan(0);
    const left = await env.DB.prepare("SELECT min(bucket) AS b FROM usage_hour WHERE team_id = ?").bind(`${tag}-team`).first<number>("b");
    expect(left).toBe(mark);
    expect(await env.DB.prepare("SELECT num FROM usage_state WHERE name = 'hours_before'").first<number>("num")).toBe(mark);

    const team = `team_id=${tag}-team`;
    const within = (a: number, b: number) => rows.filter((r) => r.ts >= a && r.ts < b);
    const modelOf = (r: CallRecord) => `${r.provider}/${r.model}`;
    const dayOf = (r: CallRecord) => new Date(r.ts - (r.ts % DAY_MS)).toISOString().slice(0, 10);
    const check = async () => {
      // All of it, and whole days over the pruned ones and the kept hours.
      expectSame((await usage(team)).totals, recount(rows));
      const [a, b] = [t0, t0 + DAYS * DAY_MS];
      expectSame((await usage(`${team}&from=${a}&to=${b}`)).totals, recount(within(a, b)));
      expectGroups(await usage(`${team}&from=${a}&to=${b}&group_by=model`), "model", recountBy(within(a, b), modelOf));
      expectGroups(await usage(`${team}&from=${a}&to=${b}&group_by=key`), "key_id", recountBy(within(a, b), (r) => r.key_id));
      expectGroups(await usage(`${team}&from=${a}&to=${b}&group_by=day`), "day", recountBy(within(a, b), dayOf));
      // Across the mark: day 4 from usage_day, day 5's first hours from usage_hour; nothing twice at the boundary.
      const [c, d] = [t0 + 4 * DAY_MS, mark + 5 * HOUR_MS];
      expectSame((await usage(`${team}&from=${c}&to=${d}`)).totals, recount(within(c, d)));
      expectGroups(await usage(`${team}&from=${c}&to=${d}&group_by=model`), "model", recountBy(within(c, d), modelOf));
      // By hour: a pruned day is one group at its first hour; kept hours are hours.
      const hourOf = (r: CallRecord) => new Date(r.ts < mark ? r.ts - (r.ts % DAY_MS) : r.ts - (r.ts % HOUR_MS)).toISOString();
      expectGroups(await usage(`${team}&from=${c}&to=${d}&group_by=hour`), "hour", recountBy(within(c, d), hourOf));
      // An edge inside a pruned day widens to the whole day (as one inside a compacted hour widens to the hour).
      const [e, f] = [t0 + 2 * DAY_MS + 7 * HOUR_MS + 123, mark + 6 * HOUR_MS];
      expectSame((await usage(`${team}&from=${e}&to=${f}`)).totals, recount(within(t0 + 2 * DAY_MS, f)));
      const spend = await usageLog.spendByHour(env.DB, "key", `${tag}-key1`, now - 32 * DAY_MS);
      expect(spend.reduce((n, h) => n + h.usd, 0)).toBeCloseTo(recount(rows.filter((r) => r.key_id === `${tag}-key1`)).cost, 9);
    };
    await check();

    // Compaction again: nothing more to fold or drop, the same answers.
    const again = await compactUsage(env, { now });
    expect(again).toMatchObject({ days_folded: 0, hour_rollups_dropped: 0, done: true });
    await check();
  });

  it("holds the compaction point while the buffer holds rows D1 refused: they come back older than the window and count once", async () => {
    const tag = `ph-${crypto.randomUUID().slice(0, 8)}`;
    const t = t0 + 60 * DAY_MS; // after the test above's rows and compaction point
    const rows = Array.from({ length: 50 }, (_, i) => ({ ...record(tag, i), ts: t + i * 60_000 }));
    const first = await compactUsage(env, { now: t });
    const point = (await archiveState(env.DB)).compacted_before;
    expect(first.held).toBeUndefined();
    expect(point).toBeLessThanOrEqual(t);

    // D1 refuses a shard's writes for long (its rows spilled); compaction, 10 days on, leaves the point where it was.
    vi.spyOn(usageBacklog, "held").mockResolvedValue(true);
    const later = t + 10 * DAY_MS;
    expect((await compactUsage(env, { now: later })).held).toMatch(/holds rows D1 refused/);
    expect((await archiveState(env.DB)).compacted_before).toBe(point);
    // The rows come back, 10 days old (older than the 7-day window): stored and counted.
    expect((await writeRows(env.DB, JSON.stringify(rows), `test:${tag}`)).ids.size).toBe(50);
    vi.mocked(usageBacklog.held).mockResolvedValue(false);
    for (let i = 0; i < 20 && !(await compactUsage(env, { now: later })).done; i++);
    expect((await archiveState(env.DB)).compacted_before).toBeGreaterThan(t + 50 * 60_000);
    expectSame((await usage(`team_id=${tag}-team`)).totals, recount(rows));
    // In the archive, once: /admin/logs finds every row.
    const logs = (await (await admin(`/logs?team_id=${tag}-team&limit=100`)).json()) as { logs: CallRecord[] };
    expect(logs.logs.map((r) => r.request_id).sort()).toEqual(rows.map((r) => r.request_id).sort());
    // A replay now (the point has passed them) is neither stored nor counted again.
    expect((await writeRows(env.DB, JSON.stringify(rows.slice(0, 5)), `test:${tag}:again`)).ids.size).toBe(0);
    expectSame((await usage(`team_id=${tag}-team`)).totals, recount(rows));
  });
});
