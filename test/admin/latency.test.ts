/**
 * GET /admin/usage/latency: p50 and p95 of latency and time to first byte, from the rollups' histograms (and the rows
 * for edges shorter than a minute: the same figures either way), in all and per group; a viewer may read it.
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { writeRows } from "../../src/usage/rollups";
import type { CallRecord } from "../../src/usage/row";
import { admin, BASE } from "../helpers/worker";

const MINUTE = 60_000;
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / MINUTE) * MINUTE + 30_000;
const KEY = `latency-key-${crypto.randomUUID().slice(0, 8)}`;

function row(i: number, latency: number, ttfb: number | null): CallRecord {
  return {
    request_id: `${KEY}-${i}`, ts: T0 + i, key_id: KEY, team_id: null, requested_model: "mock/echo", provider: "mock", model: "echo",
    action: "generateContent", stream: false, status: 200, outcome: "ok", error: null, attempts: [], fallback_index: 0,
    tokens: { input: 1, output: 1, cached: 0, thinking: 0 }, cost_usd: 0, latency_ms: latency, ttfb_ms: ttfb,
  } as unknown as CallRecord;
}

type Fig = { count: number; p50_ms: number | null; p95_ms: number | null };
type Answer = { latency: Fig; ttfb: Fig; groups?: ({ hour: string } & { latency: Fig; ttfb: Fig })[] };

describe("GET /admin/usage/latency", () => {
  it("answers p50 and p95 from the histograms, the same from the rollups as from the rows, in all and per hour", async () => {
    // 10 calls of 200 ms, 9 of 800 ms, 1 of 4 s; every TTFB 80 ms but one unknown.
    const rows = [
      ...Array.from({ length: 10 }, (_, i) => row(i, 200, 80)),
      ...Array.from({ length: 9 }, (_, i) => row(10 + i, 800, 80)),
      row(19, 4000, null),
    ];
    await writeRows(env.DB, JSON.stringify(rows), `test:${KEY}`);
    const expected = { latency: { count: 20, p50_ms: 250, p95_ms: 1000 }, ttfb: { count: 19, p50_ms: 75, p95_ms: 98 } };

    // A range inside one minute: the rows themselves.
    const fromRows = (await (await admin(`/usage/latency?key_id=${KEY}&from=${T0 - 5_000}&to=${T0 + 5_000}`)).json()) as Answer;
    expect(fromRows).toMatchObject(expected);
    // Hours: the rollups.
    const r = await admin(`/usage/latency?key_id=${KEY}&from=${T0 - 3_600_000}&group_by=hour`);
    expect(r.status).toBe(200);
    const byHour = (await r.json()) as Answer;
    expect(byHour).toMatchObject(expected);
    expect(byHour.groups).toEqual([{ hour: new Date(T0 - (T0 % 3_600_000)).toISOString(), ...expected }]);

    // No calls: counts of 0 and no figures.
    const none = (await (await admin(`/usage/latency?key_id=nobody-${KEY}`)).json()) as Answer;
    expect(none.latency).toEqual({ count: 0, p50_ms: null, p95_ms: null });
  });

  it("refuses a filter it does not know, as /admin/usage does; a viewer may read it", async () => {
    expect((await admin("/usage/latency?nonsense=1")).status).toBe(400);
    const t = await admin("/tokens", { body: { name: "latency-viewer", role: "viewer" } });
    const { token } = (await t.json()) as { token: string };
    const r = await SELF.fetch(`${BASE}/admin/usage/latency?key_id=${KEY}`, { headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(200);
  });
});
