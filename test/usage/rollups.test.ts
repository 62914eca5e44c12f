/**
 * Usage rollups (per minute and per hour) are written with the rows, count each stored row exactly once (replayed
 * batches, rows handed off twice, lost answers), and /admin/usage answers from them what the rows say.
 */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { usageShard } from "../../src/usage/buffer";
import { usageSql } from "../../src/usage/queries";
import type { CallRecord } from "../../src/usage/row";
import { foldDays } from "../../src/usage/compact";
import { DAY_MS, HOUR_MS, LATENCY_BOUNDS, LATENCY_COLUMNS, MINUTE_MS, TTFB_BOUNDS, TTFB_COLUMNS, writeRows } from "../../src/usage/rollups";
import { admin, flushUsage } from "../helpers/worker";

afterEach(() => {
  vi.restoreAllMocks();
});
// Many queries over D1 on a shared machine.
vi.setConfig({ testTimeout: 60_000 });

const T0 = Date.UTC(2025, 5, 1, 10, 17, 23, 456);

/** A deterministic pseudo-random stream, so a failure can be replayed. */
function rng(seed: number) {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

function rows(tag: string, n: number, seed = 1): CallRecord[] {
  const r = rng(seed);
  const pick = <T,>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  return Array.from({ length: n }, (_, i) => {
    const outcome = pick(["ok", "ok", "ok", "error", "aborted"] as const);
    const served = outcome !== "error" || r() < 0.5;
    const [provider, model] = pick([["mock", "echo"], ["gemini", "gemini-2.5-flash"], ["openai", "gpt-4o-mini"]] as const);
    return {
      request_id: `${tag}-${i}`, ts: T0 + Math.floor(r() * 3 * HOUR_MS), key_id: `${tag}-k${Math.floor(r() * 3)}`,
      team_id: r() < 0.3 ? null : `${tag}-t${Math.floor(r() * 2)}`, requested_model: `${provider}/${model}`,
      provider: served ? provider : null, model: served ? model : null, action: "generateContent", stream: r() < 0.5,
      status: outcome === "error" ? pick([500, 503, 400]) : outcome === "aborted" ? 499 : 200, outcome,
      error: outcome === "error" ? "boom" : null, attempts: [], fallback_index: served ? 0 : null,
      tokens: { input: Math.floor(r() * 1000), output: Math.floor(r() * 500), cached: Math.floor(r() * 50), thinking: Math.floor(r() * 30), ...(r() < 0.3 ? { tool_use: Math.floor(r() * 40) } : {}) },
      cost_usd: Math.round(r() * 1e6) / 1e9, latency_ms: Math.floor(r() ** 3 * 400_000), ttfb_ms: r() < 0.2 ? null : Math.floor(r() ** 3 * 70_000),
      ...(r() < 0.05 ? { requests: 1 + Math.floor(r() * 20) } : {}),
    } as CallRecord;
  });
}

type Fig = Record<string, number>;
/** The rollups recounted from the rows, in JS: one entry per (bucket, group). */
function recount(records: CallRecord[], width: number): Map<string, Fig> {
  const out = new Map<string, Fig>();
  const bucketOf = (v: number, bounds: readonly number[]) => {
    const i = bounds.findIndex((b) => v <= b);
    return i < 0 ? bounds.length : i;
  };
  for (const r of records) {
    const k = [r.ts - (r.ts % width), r.key_id, r.team_id ?? "", r.provider ?? "", r.model ?? "", r.status, r.outcome].join("|");
    const f = out.get(k) ?? { calls: 0, requests: 0, errors: 0, aborted: 0, input_tokens: 0, output_tokens: 0, cached_tokens: 0, thinking_tokens: 0, tool_use_tokens: 0, cost_usd: 0, latency_ms_sum: 0, ttfb_ms_sum: 0, ttfb_count: 0 };
    f.calls! += 1;
    f.requests! += r.requests ?? 1;
    f.errors! += r.outcome === "error" ? 1 : 0;
    f.aborted! += r.outcome === "aborted" ? 1 : 0;
    f.input_tokens! += r.tokens.input;
    f.output_tokens! += r.tokens.output;
    f.cached_tokens! += r.tokens.cached;
    f.thinking_tokens! += r.tokens.thinking;
    f.tool_use_tokens! += (r.tokens as { tool_use?: number }).tool_use ?? 0;
    f.cost_usd! += r.cost_usd;
    f.latency_ms_sum! += r.latency_ms;
    const lat = LATENCY_COLUMNS[bucketOf(r.latency_ms, LATENCY_BOUNDS)]!;
    f[lat] = (f[lat] ?? 0) + 1;
    if (r.ttfb_ms !== null) {
      f.ttfb_ms_sum! += r.ttfb_ms;
      f.ttfb_count! += 1;
      const t = TTFB_COLUMNS[bucketOf(r.ttfb_ms, TTFB_BOUNDS)]!;
      f[t] = (f[t] ?? 0) + 1;
    }
    out.set(k, f);
  }
  return out;
}

/** What D1's rollup table holds for the tag's keys, in the same shape (zero figures left out, cost rounded). */
async function stored(table: "usage_minute" | "usage_hour", tag: string): Promise<Map<string, Fig>> {
  const { results } = await env.DB.prepare(`SELECT * FROM ${table} WHERE key_id LIKE ?`).bind(`${tag}-%`).all<Record<string, number | string>>();
  const out = new Map<string, Fig>();
  for (const r of results) {
    const k = [r.bucket, r.key_id, r.team_id, r.provider, r.model, r.status, r.outcome].join("|");
    const f: Fig = {};
    for (const [c, v] of Object.entries(r)) if (typeof v === "number" && v !== 0 && !["bucket", "status"].includes(c)) f[c] = v;
    out.set(k, f);
  }
  return out;
}

async function expectRollupsMatch(tag: string, records: CallRecord[]) {
  for (const [table, width] of [["usage_minute", MINUTE_MS], ["usage_hour", HOUR_MS]] as const) {
    const want = recount(records, width);
    const got = await stored(table, tag);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, f] of want) {
      const g = got.get(k)!;
      const { cost_usd: wantCost, ...rest } = Object.fromEntries(Object.entries(f).filter(([, v]) => v !== 0));
      const { cost_usd: gotCost, ...gotRest } = g;
      expect(gotRest, `${table} ${k}`).toEqual(rest);
      expect(gotCost ?? 0).toBeCloseTo(wantCost ?? 0, 12);
    }
  }
}

const usedIds = async (tag: string) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM usage WHERE request_id LIKE ?").bind(`${tag}-%`).first<number>("n"))!;

describe("rollups written with the rows", () => {
  it("equal a recount of the rows, through replays, rows stored twice and rows twice in a batch", async () => {
    const tag = `ru-${crypto.randomUUID().slice(0, 8)}`;
    const all = rows(tag, 400);
    const batches = Array.from({ length: 8 }, (_, i) => all.slice(i * 50, i * 50 + 50));
    for (const [i, b] of batches.entries()) {
      const first = await writeRows(env.DB, JSON.stringify(b), `test:${tag}:${i}`);
      expect(first.ids.size).toBe(b.length);
      // The same batch again (its answer lost, retried under its id): its rows are its own, counted once.
      const again = await writeRows(env.DB, JSON.stringify(b), `test:${tag}:${i}`);
      expect(again.ids.size).toBe(b.length);
    }
    // A row handed off twice, stored by another batch: not this batch's, not counted again.
    const copies = await writeRows(env.DB, JSON.stringify([all[3], all[77], all[399]]), `test:${tag}:copies`);
    expect(copies.ids.size).toBe(0);
    // A batch holding the same new row twice counts it once.
    const extra = rows(`${tag}x`, 1, 9).map((r) => ({ ...r, request_id: `${tag}-extra`, key_id: `${tag}-k0` }));
    await writeRows(env.DB, JSON.stringify([extra[0], extra[0]]), `test:${tag}:dup`);
    expect(await usedIds(tag)).toBe(401);
    await expectRollupsMatch(tag, [...all, extra[0]!]);
  });

  it("a shard's batch whose write committed but whose answer was lost is counted once", async () => {
    const tag = `rl-${crypto.randomUUID().slice(0, 8)}`;
    const all = rows(tag, 30, 3);
    await flushUsage();
    const batch = env.DB.batch.bind(env.DB);
    let lost = false;
    vi.spyOn(env.DB, "batch").mockImplementation(async (statements) => {
      const r = await batch(statements);
      if (!lost && statements.length === 5) { // a batch of rows: its rollups (minute, hour, day, span) and the INSERT
        lost = true;
        throw new Error("D1_ERROR: network connection lost"); // committed, but the shard never hears so
      }
      return r;
    });
    vi.spyOn(console, "error").mockImplementation(() => {});
    await usageShard(env.USAGE_BUFFER, 6).add(all);
    await usageShard(env.USAGE_BUFFER, 6).flush();
    expect(lost).toBe(true);
    expect(await usedIds(tag)).toBe(30);
    await expectRollupsMatch(tag, all);
  });
});

describe("/admin/usage from the rollups", () => {
  it("whole days from the daily rollups once folded; a late row of a folded day counted once, in the day too", async () => {
    const tag = `rd-${crypto.randomUUID().slice(0, 8)}`;
    const base = T0 + 20 * DAY_MS;
    const all = rows(tag, 240, 13).map((r, i) => ({ ...r, key_id: `${tag}-k`, ts: base + Math.floor((i * 3 * DAY_MS) / 240) }));
    await writeRows(env.DB, JSON.stringify(all.slice(0, 200)), `test:${tag}:a`);
    for (let i = 0; i < 400 && !(await foldDays(env.DB, base + 5 * DAY_MS)); i++);
    // Rows of days already folded, arriving late.
    await writeRows(env.DB, JSON.stringify(all.slice(200)), `test:${tag}:b`);
    await writeRows(env.DB, JSON.stringify(all.slice(200)), `test:${tag}:b`); // and replayed
    const day = (await env.DB.prepare("SELECT sum(calls) AS n FROM usage_day WHERE key_id = ?").bind(`${tag}-k`).first<number>("n"));
    expect(day).toBe(240);
    const r = rng(17);
    const ranges: [number | undefined, number | undefined][] = [[undefined, undefined], [base - DAY_MS, base + 4 * DAY_MS]];
    for (let i = 0; i < 6; i++) {
      const a = base + Math.floor(r() * 2 * DAY_MS);
      ranges.push([a, a + Math.floor(r() * 2 * DAY_MS)]);
    }
    for (const [from, to] of ranges) {
      for (const group_by of [undefined, "day", "hour", "model"] as const) {
        const raw = usageSql({ key_id: `${tag}-k`, from, to, group_by });
        const want = (await env.DB.prepare(raw.sql).bind(...raw.args).all<Record<string, number | string | null>>()).results;
        const qs = new URLSearchParams({ key_id: `${tag}-k`, ...(from ? { from: String(from) } : {}), ...(to ? { to: String(to) } : {}), ...(group_by ? { group_by } : {}) });
        const body = (await (await admin(`/usage?${qs}`)).json()) as { totals: Fig; groups?: Record<string, unknown>[] };
        if (!group_by) expect([body.totals.requests, body.totals.output_tokens], `${qs}`).toEqual([want[0]!.requests ?? 0, want[0]!.output_tokens]);
        else expect(body.groups!.map((g) => [g.requests, g.errors, g.output_tokens]), `${qs}`).toEqual(want.map((w) => [w.requests, w.errors, w.output_tokens]));
      }
    }
  });

  it("answers any range, grouped or not, as the rows themselves do", async () => {
    const tag = `rq-${crypto.randomUUID().slice(0, 8)}`;
    const all = rows(tag, 300, 5).map((r, i) => ({ ...r, key_id: `${tag}-k`, team_id: i % 2 ? `${tag}-t` : null }));
    await writeRows(env.DB, JSON.stringify(all.slice(0, 150)), `test:${tag}:a`);
    await writeRows(env.DB, JSON.stringify(all.slice(150)), `test:${tag}:b`);
    const r = rng(11);
    const ranges: [number | undefined, number | undefined][] = [[undefined, undefined], [T0 - HOUR_MS, T0 + 4 * HOUR_MS], [T0 - (T0 % HOUR_MS), undefined]];
    for (let i = 0; i < 8; i++) {
      const a = T0 + Math.floor(r() * 3 * HOUR_MS);
      const b = a + 1 + Math.floor(r() * (i % 2 ? 90_000 : 2 * HOUR_MS));
      ranges.push([a, b]);
    }
    for (const [from, to] of ranges) {
      for (const group_by of [undefined, "model", "hour", "team", "provider"] as const) {
        const q = { key_id: `${tag}-k`, from, to, group_by };
        const raw = usageSql(q);
        const want = (await env.DB.prepare(raw.sql).bind(...raw.args).all<Record<string, number | string | null>>()).results;
        const qs = new URLSearchParams({ key_id: `${tag}-k`, ...(from ? { from: String(from) } : {}), ...(to ? { to: String(to) } : {}), ...(group_by ? { group_by } : {}) });
        const body = (await (await admin(`/usage?${qs}`)).json()) as { totals: Fig; groups?: Record<string, unknown>[] };
        const label = `${qs}`;
        if (!group_by) {
          expect(body.totals.requests, label).toBe(want[0]!.requests ?? 0);
          expect(body.totals.input_tokens, label).toBe(want[0]!.input_tokens);
          expect(body.totals.cost_usd, label).toBeCloseTo(Number(want[0]!.cost_usd), 9);
        } else {
          expect(body.groups!.map((g) => [g.requests, g.errors, g.aborted, g.output_tokens]), label).toEqual(
            want.map((w) => [w.requests, w.errors, w.aborted, w.output_tokens]),
          );
        }
      }
    }
  });

  it("filters by team, model, provider, outcome and status as the rows do", async () => {
    const tag = `rf-${crypto.randomUUID().slice(0, 8)}`;
    const all = rows(tag, 200, 7).map((r) => ({ ...r, team_id: `${tag}-t` }));
    await writeRows(env.DB, JSON.stringify(all), `test:${tag}`);
    for (const f of [{ model: "gemini/gemini-2.5-flash" }, { provider: "openai" }, { outcome: "aborted" }, { status: "503" }, { outcome: "error", provider: "mock" }] as Record<string, string>[]) {
      const q = { team_id: `${tag}-t`, ...f, ...(f.status ? { status: Number(f.status) } : {}) } as Parameters<typeof usageSql>[0];
      const raw = usageSql(q);
      const want = (await env.DB.prepare(raw.sql).bind(...raw.args).first<Fig>())!;
      const body = (await (await admin(`/usage?${new URLSearchParams({ team_id: `${tag}-t`, ...f })}`)).json()) as { totals: Fig };
      expect(body.totals.requests, JSON.stringify(f)).toBe(want.requests ?? 0);
      expect(body.totals.output_tokens, JSON.stringify(f)).toBe(want.output_tokens);
    }
  });
});
