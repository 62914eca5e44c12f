/**
 * Span rollups (docs/usage-log.md, "Rollups"): compaction folds whole epoch-aligned blocks of 4, 16, 64 and 256 days
 * into usage_span, and /admin/usage reads long ranges from the biggest whole blocks that fit. Over ~300 days of rows:
 * totals and groups over random ranges (a year, edges inside blocks, filters) equal a recount of the rows as they
 * were made; a late row into a folded block counts once at every level; compaction again changes nothing; two
 * compactions at once add no block twice; the latency histograms over a year equal their answer from days.
 */
import { env } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { compactUsage, foldDays, foldSpans } from "../../src/usage/compact";
import { queryLatency, queryUsage, rollupSql, segments, type Segment } from "../../src/usage/queries";
import type { CallRecord } from "../../src/usage/row";
import { DAY_MS, HOUR_MS, LATENCY_BOUNDS, SPAN_LEVELS, spanMs, TTFB_BOUNDS, writeRows } from "../../src/usage/rollups";
import { admin } from "../helpers/worker";

// Several hundred queries and compaction of ~300 days on a shared machine.
const TIMEOUT = 300_000;

/** A deterministic pseudo-random stream, so a failure can be replayed. */
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

const W4 = spanMs(4);
// Today is the first day of a 256-day block: every level's blocks end here, so a late row of the last days is in a
// folded block of every level.
const END = Math.ceil(Date.UTC(2004, 0, 1) / W4) * W4;
const DAYS = 300;
const START = END - DAYS * DAY_MS;
const NOW = END + 3 * HOUR_MS;
const N = 3_000;

function records(tag: string): CallRecord[] {
  const r = rng(7);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: N }, (_, i) => {
    const day = Math.floor((i * DAYS) / N);
    // A day's rows within one hour of it (one archive object a day, so compaction is quick).
    const ts = START + day * DAY_MS + ((day * 7) % 24) * HOUR_MS + Math.floor(r() * HOUR_MS);
    const outcome = pick(["ok", "ok", "ok", "error"] as const);
    const [provider, model] = pick([["mock", "echo"], ["gemini", "gemini-2.5-flash"], ["openai", "gpt-4o-mini"]] as const);
    return {
      request_id: `${tag}-${String(i).padStart(5, "0")}`, ts, key_id: `${tag}-k${Math.floor(r() * 4)}`,
      team_id: r() < 0.2 ? null : `${tag}-t${Math.floor(r() * 2)}`, requested_model: `${provider}/${model}`, provider, model,
      action: "generateContent", stream: false, status: outcome === "error" ? pick([503, 429]) : 200, outcome,
      error: outcome === "error" ? "boom" : null, attempts: [], fallback_index: 0,
      tokens: { input: Math.floor(r() * 1000), output: Math.floor(r() * 500), cached: 0, thinking: 0, tool_use: 0 },
      cost_usd: Math.round(r() * 1e6) / 1e9, latency_ms: Math.floor(r() ** 3 * 400_000), ttfb_ms: r() < 0.2 ? null : Math.floor(r() ** 3 * 70_000),
    } as CallRecord;
  });
}

type Body = { totals: Record<string, number>; groups?: Record<string, unknown>[] };
const usage = async (q: string) => {
  const res = await admin(`/usage?${q}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Body;
};

type Figures = { requests: number; errors: number; input_tokens: number; output_tokens: number; cost: number };
function recount(rs: CallRecord[]): Figures {
  return {
    requests: rs.length, errors: rs.filter((r) => r.outcome === "error").length, input_tokens: rs.reduce((n, r) => n + r.tokens.input, 0),
    output_tokens: rs.reduce((n, r) => n + r.tokens.output, 0), cost: rs.reduce((n, r) => n + r.cost_usd, 0),
  };
}
function recountBy(rows: CallRecord[], by: (r: CallRecord) => string): Record<string, Figures> {
  const m = new Map<string, CallRecord[]>();
  for (const r of rows) m.set(by(r), [...(m.get(by(r)) ?? []), r]);
  return Object.fromEntries([...m].map(([k, rs]) => [k, recount(rs)]));
}
function expectSame(got: Record<string, number>, want: Figures, what: string) {
  const g = { requests: got.requests, errors: got.errors, input_tokens: got.input_tokens, output_tokens: got.output_tokens };
  expect(g, what).toEqual({ requests: want.requests, errors: want.errors, input_tokens: want.input_tokens, output_tokens: want.output_tokens });
  expect(got.cost_usd, what).toBeCloseTo(want.cost, 8);
}
function expectGroups(body: Body, field: string, want: Record<string, Figures>, what: string) {
  const got = Object.fromEntries((body.groups ?? []).map((g) => [String(g[field]), g as unknown as Record<string, number>]));
  expect(Object.keys(got).sort(), what).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) expectSame(got[k]!, want[k]!, `${what} ${k}`);
}

async function state() {
  const { results } = await env.DB.prepare("SELECT name, num FROM usage_state").all<{ name: string; num: number }>();
  return Object.fromEntries(results.map((r) => [r.name, r.num]));
}
/** Each level's calls by block, as stored. */
async function spanCalls(): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT level, bucket, sum(calls) AS n FROM usage_span GROUP BY level, bucket").all<{ level: number; bucket: number; n: number }>();
  return Object.fromEntries(results.map((r) => [`${r.level}:${r.bucket}`, r.n]));
}

describe("span rollups", () => {
  it("answer any range as the rows would, count a late row once at every level, and fold each block once", { timeout: TIMEOUT }, async () => {
    const tag = `sp-${crypto.randomUUID().slice(0, 8)}`;
    const rows = records(tag);
    for (let i = 0; i < N; i += 200) await writeRows(env.DB, JSON.stringify(rows.slice(i, i + 200)), `test:${tag}:${i}`);

    // The days folded, then three span folds at once: they start on the same block, and each block goes in once.
    for (let i = 0; i < 20 && !(await foldDays(env.DB, NOW)); i++);
    const folds = { spans_folded: 0 };
    await Promise.all([foldSpans(env.DB, folds), foldSpans(env.DB, folds), foldSpans(env.DB, folds)]);
    let spansFolded = folds.spans_folded;
    // Then two compactions at once, again and again until both are done.
    for (let i = 0; i < 40; i++) {
      const runs = await Promise.all([compactUsage(env, { now: NOW }), compactUsage(env, { now: NOW })]);
      spansFolded += runs[0].spans_folded + runs[1].spans_folded;
      if (runs[0].done && runs[1].done) break;
    }
    expect(spansFolded).toBe(SPAN_LEVELS.reduce((n, k) => n + Math.ceil((DAYS * DAY_MS) / spanMs(k)), 0));
    const s = await state();
    expect(s.days_through).toBe(END);
    for (const k of SPAN_LEVELS) expect(s[`spans_through_${k}`], `level ${k}`).toBe(END);
    expect(s.hours_before).toBeGreaterThan(START);
    expect(s.compacted_before).toBeGreaterThan(END - 8 * DAY_MS);
    // The rows are gone from D1 but for the last days.
    const left = await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE key_id LIKE ?").bind(`${tag}-%`).first<number>("n");
    expect(left).toBeLessThan(N / 30);
    // Every level holds each of its blocks' rows exactly once.
    const stored = await spanCalls();
    for (const k of SPAN_LEVELS) {
      const want = new Map<number, number>();
      for (const r of rows) want.set(r.ts - (r.ts % spanMs(k)), (want.get(r.ts - (r.ts % spanMs(k))) ?? 0) + 1);
      const got = Object.entries(stored).filter(([b]) => b.startsWith(`${k}:`)).map(([b, n]) => [Number(b.slice(2)), n]);
      expect(Object.fromEntries(got), `level ${k}`).toEqual(Object.fromEntries(want));
    }

    // A year is read mostly from blocks: the 256-day one and the levels below at its start.
    const yearSegs = segments(END - 365 * DAY_MS, NOW, s.compacted_before!, s.days_through, false, s.hours_before, SPAN_LEVELS.map((k) => s[`spans_through_${k}`]!));
    expect(yearSegs.filter((p) => p.source === "usage_span").map((p) => p.level)).toContain(4);

    const check = async (all: CallRecord[], label: string) => {
      const r = rng(11);
      // Edges where the answer is exact: whole days where hours are pruned, whole hours where rows are gone, any ms after.
      const edge = (t: number) => (t < s.hours_before! ? t - (t % DAY_MS) : t < s.compacted_before! ? t - (t % HOUR_MS) : t);
      const within = (a: number, b: number) => all.filter((x) => x.ts >= a && x.ts < b);
      const ranges: [number, number][] = [
        [END - 365 * DAY_MS, NOW], // a year
        [START, END], // all of the rows, edges on blocks of no level but days
        [END - W4, END], // one whole 256-day block
        [END - W4 + 5 * DAY_MS, END - 3 * DAY_MS + 7 * HOUR_MS + 123], // inside blocks at both ends
      ];
      for (let i = 0; i < 8; i++) {
        const a = START - 5 * DAY_MS + Math.floor(r() * (DAYS + 8) * DAY_MS);
        const b = a + Math.floor(r() * (END + DAY_MS - a));
        ranges.push([edge(a), edge(b)]);
      }
      const modelOf = (x: CallRecord) => `${x.provider}/${x.model}`;
      for (const [a, b] of ranges) {
        if (a >= b) continue;
        const q = `from=${a}&to=${b}`;
        const w = `${label} ${new Date(a).toISOString()}..${new Date(b).toISOString()}`;
        expectSame((await usage(q)).totals, recount(within(a, b)), `${w} totals`);
        expectGroups(await usage(`${q}&group_by=key`), "key_id", recountBy(within(a, b), (x) => x.key_id), `${w} by key`);
        expectGroups(await usage(`${q}&group_by=model`), "model", recountBy(within(a, b), modelOf), `${w} by model`);
        expectGroups(await usage(`${q}&group_by=team`), "team_id", recountBy(within(a, b), (x) => String(x.team_id)), `${w} by team`);
        // Filters on every level: a key, a team, a model, a status, an outcome.
        const k1 = within(a, b).filter((x) => x.key_id === `${tag}-k1`);
        expectGroups(await usage(`${q}&key_id=${tag}-k1&group_by=model`), "model", recountBy(k1, modelOf), `${w} key by model`);
        const t0 = within(a, b).filter((x) => x.team_id === `${tag}-t0` && x.status === 503);
        expectSame((await usage(`${q}&team_id=${tag}-t0&status=503`)).totals, recount(t0), `${w} team+status`);
        const gm = within(a, b).filter((x) => x.model === "gemini-2.5-flash" && x.outcome === "ok");
        expectGroups(await usage(`${q}&model=gemini/gemini-2.5-flash&outcome=ok&group_by=key`), "key_id", recountBy(gm, (x) => x.key_id), `${w} model+outcome by key`);
      }
      // By day, over the year: from the days, never a block.
      const dayOf = (x: CallRecord) => new Date(x.ts - (x.ts % DAY_MS)).toISOString().slice(0, 10);
      expectGroups(await usage(`from=${END - 365 * DAY_MS}&to=${END}&group_by=day`), "day", recountBy(all, dayOf), `${label} by day`);

      // The latency histograms of a year from blocks equal their answer from days (grouped by day) and the rows'.
      const year = { from: END - 365 * DAY_MS, to: END + DAY_MS };
      const spans = await queryLatency(env.DB, year);
      const days = await queryLatency(env.DB, { ...year, group_by: "day" });
      const sum = (hs: number[][]) => hs[0]!.map((_, i) => hs.reduce((n, h) => n + h[i]!, 0));
      expect(spans.all).toEqual({ latency: sum(days.groups.map((g) => g.h.latency)), ttfb: sum(days.groups.map((g) => g.h.ttfb)) });
      const bucket = (v: number, bounds: readonly number[]) => (bounds.findIndex((x) => v <= x) + bounds.length + 1) % (bounds.length + 1);
      const want = { latency: Array(LATENCY_BOUNDS.length + 1).fill(0) as number[], ttfb: Array(TTFB_BOUNDS.length + 1).fill(0) as number[] };
      for (const x of all) {
        want.latency[bucket(x.latency_ms, LATENCY_BOUNDS)]!++;
        if (x.ttfb_ms !== null) want.ttfb[bucket(x.ttfb_ms, TTFB_BOUNDS)]!++;
      }
      expect(spans.all).toEqual(want);
    };
    await check(rows, "compacted");

    // Nearly a year with every filter, ending inside a block of three levels and off the minute: 10 segments (blocks of
    // 64 days, of 16 and 4 days and days at each end, hours, minutes, rows), each with 7 filter values, 2 edges (and a
    // level): 95 parameters bound one per use, near D1's limit of 100 (over it with a longer window, both ends in kept
    // rows). Each distinct value is bound once: the filters once, the edges once each.
    const prepare = vi.spyOn(env.DB, "prepare");
    const q = { from: END - 365 * DAY_MS + 1_234, to: END - 5 * DAY_MS + 7 * HOUR_MS + 2 * 60_000 + 4_321, key_id: `${tag}-k2`, team_id: `${tag}-t1`, model: "openai/gpt-4o-mini", provider: "openai", outcome: "error" as const, status: 429, group_by: "key" as const };
    const got = await queryUsage(env.DB, q);
    const sql = prepare.mock.calls.map((c) => c[0]).find((x) => x.includes("UNION ALL"))!;
    prepare.mockRestore();
    expect(sql.match(/ FROM usage_span /g)!.length).toBe(5);
    expect(sql.match(/ FROM usage(_minute|_hour|_day|_span)? /g)!.length).toBe(10);
    expect(Math.max(...sql.match(/\?\d+/g)!.map((x) => Number(x.slice(1))))).toBeLessThanOrEqual(7 + 11 + 3);
    const want = rows.filter((x) => x.ts >= q.from && x.ts < q.to && x.key_id === q.key_id && x.team_id === q.team_id && x.model === "gpt-4o-mini" && x.status === 429);
    expect(want.length).toBeGreaterThan(0);
    expectSame(got.totals as unknown as Record<string, number>, recount(want), "every filter");

    // Compaction again: nothing to fold, the blocks as they were, the same answers.
    const again = await compactUsage(env, { now: NOW });
    expect(again).toMatchObject({ days_folded: 0, spans_folded: 0, done: true });
    expect(await spanCalls()).toEqual(stored);

    // A late row (a replayed batch of two days ago, after the compaction point, in a block folded at every level):
    // in every level's block once, and in every answer once.
    const late = { ...rows[N - 1]!, request_id: `${tag}-late`, ts: END - 2 * DAY_MS + 5 * HOUR_MS, key_id: `${tag}-k9` };
    expect(late.ts).toBeGreaterThanOrEqual(s.compacted_before!);
    expect((await writeRows(env.DB, JSON.stringify([late]), `test:${tag}:late`)).ids.size).toBe(1);
    expect((await writeRows(env.DB, JSON.stringify([late]), `test:${tag}:late`)).ids.size).toBe(1); // its answer lost: retried
    const after = await spanCalls();
    for (const k of SPAN_LEVELS) {
      const b = `${k}:${late.ts - (late.ts % spanMs(k))}`;
      expect(after[b], `level ${k}`).toBe(stored[b]! + 1);
    }
    expect(Object.entries(after).filter(([b, n]) => stored[b] !== n)).toHaveLength(SPAN_LEVELS.length);
    await compactUsage(env, { now: NOW });
    await check([...rows, late], "with a late row");
  });

  it("a rollup segment open at one end (all time) is read by its bucket range, never by walking a whole group index", async () => {
    const t = Date.UTC(2026, 0, 1);
    const cases: Segment[] = [
      { source: "usage_hour", from: t },
      { source: "usage_hour", to: t },
      { source: "usage_day", to: t },
      { source: "usage_day", from: t },
      { source: "usage_span", level: 2, to: t },
      { source: "usage_minute", from: t },
    ];
    for (const seg of cases) {
      for (const group_by of ["key", "team", "model"] as const) {
        const { sql, args } = rollupSql(seg, { group_by });
        const plan = (await env.DB.prepare(`EXPLAIN QUERY PLAN ${sql}`).bind(...args).all<{ detail: string }>()).results.map((r) => r.detail).join(" | ");
        // A SEARCH by the bucket (the primary key or a figures index), never a SCAN of the table or an index.
        expect(plan, `${seg.source} ${JSON.stringify(seg)} by ${group_by}: ${plan}`).toMatch(/SEARCH \S+ USING (COVERING INDEX \S+|PRIMARY KEY) \((level=\? AND )?bucket[<>]\?\)/);
        expect(plan).not.toMatch(/\bSCAN\b/);
      }
    }
  });

  it("segments: the biggest whole blocks below each level's mark, days at the ends, none when grouping by day", () => {
    const W1 = spanMs(1);
    const W2 = spanMs(2);
    const marks = [END, END - W2, END - W4, END - W4]; // level 2 behind level 1; levels 3 and 4 further behind
    const a = END - W4 + 3 * DAY_MS;
    const parts = segments(a, END, END, END, false, END, marks);
    // Days up to the first 4-day block, 4-day blocks to the first 16-day one, 16-day blocks to level 2's mark, then
    // 4-day blocks (level 1 is ahead) to the end.
    const spans = parts.filter((p) => p.source === "usage_span");
    const covered = parts.filter((p) => p.source === "usage_span" || p.source === "usage_day").map((p) => [p.from!, p.to!] as const).sort((x, y) => x[0] - y[0]);
    expect(covered[0]![0]).toBe(a);
    expect(covered.at(-1)![1]).toBe(END);
    for (let i = 1; i < covered.length; i++) expect(covered[i]![0]).toBe(covered[i - 1]![1]);
    for (const p of spans) {
      expect(p.from! % spanMs(p.level!)).toBe(0);
      expect(p.to! % spanMs(p.level!)).toBe(0);
      expect(p.to!).toBeLessThanOrEqual(marks[p.level! - 1]!);
    }
    expect(spans.map((p) => p.level)).toEqual(expect.arrayContaining([1, 2]));
    expect(parts.find((p) => p.source === "usage_span" && p.level! > 2)).toBeUndefined();
    expect(parts.filter((p) => p.source === "usage_day").every((p) => p.to! - p.from! < W1)).toBe(true);
    // Without marks (grouping by day or hour), days only.
    expect(segments(a, END, END, END, false, END).filter((p) => p.source === "usage_span")).toEqual([]);
  });
});
