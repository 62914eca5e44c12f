/** GET /admin/usage and /admin/logs: filters, grouping, paging, auth, bad parameters. */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { writeRows } from "../../src/usage/rollups";
import type { CallRecord } from "../../src/usage/row";
import { createTeam } from "../helpers/governance";
import { admin, BASE, createKey, genaiCall, textRequest } from "../helpers/worker";

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 10); // 2025-01-10

function row(over: Partial<CallRecord> & { key_id: string }): CallRecord {
  return {
    request_id: crypto.randomUUID(), ts: T0, team_id: null, requested_model: "mock/echo", provider: "mock", model: "echo",
    action: "generateContent", stream: false, status: 200, outcome: "ok", error: null,
    attempts: [{ target: "mock/echo", status: 200, reason: "ok", latency_ms: 2 }], fallback_index: 0,
    tokens: { input: 10, output: 20, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0.00005, latency_ms: 5, ttfb_ms: 4,
    ...over,
  };
}

async function seed(rows: CallRecord[]) {
  // As every writer stores rows: with their rollups, which /admin/usage reads.
  await writeRows(env.DB, JSON.stringify(rows), `seed:${crypto.randomUUID()}`);
}

const json = async (r: Response) => ({ status: r.status, body: (await r.json()) as any });

describe("/admin/usage", () => {
  const team = `team-${crypto.randomUUID()}`;
  const k1 = `key-${crypto.randomUUID()}`;
  const k2 = `key-${crypto.randomUUID()}`;
  const seeded = seed([
    row({ key_id: k1, team_id: team }),
    row({ key_id: k1, team_id: team, ts: T0 + 1000, tokens: { input: 100, output: 50, cached: 40, thinking: 5, tool_use: 30 }, cost_usd: 0.001 }),
    row({ key_id: k1, team_id: team, ts: T0 + DAY, outcome: "error", status: 500, provider: null, model: null, tokens: { input: 0, output: 0, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: 0, error: "boom" }),
    row({ key_id: k2, team_id: team, ts: T0 + DAY + 5, provider: "gemini", model: "gemini-2.0-flash", outcome: "aborted", status: 499, cost_usd: 0.002 }),
    row({ key_id: k2, team_id: team, ts: T0 + 2 * DAY, provider: "gemini", model: "gemini-2.0-flash", cost_usd: 0.003 }),
  ]);

  it("totals over a team, without grouping; what the buffer holds is shown", async () => {
    await seeded;
    const { status, body } = await json(await admin(`/usage?team_id=${team}`));
    expect(status).toBe(200);
    expect(body).toEqual({
      from: null, to: null, group_by: null,
      pending_rows: expect.any(Number), rejected_rows: expect.any(Number), unsettled_rows: expect.any(Number), spilled_rows: expect.any(Number), d1_failing_since: null, archive: expect.any(Object),
      totals: { requests: 5, errors: 1, aborted: 1, input_tokens: 130, output_tokens: 110, cached_tokens: 40, thinking_tokens: 5, tool_use_tokens: 30, cost_usd: 0.00605, unpriced_calls: 0, cache_hits: 0, saved_usd: 0, guardrail_actions: 0, refused: 0 },
      refusals: [],
    });
  });

  it("groups by key, model, provider, team and day", async () => {
    await seeded;
    const by = async (g: string, extra = "") => (await json(await admin(`/usage?team_id=${team}&group_by=${g}${extra}`))).body;

    const keys = await by("key");
    expect(keys.groups).toEqual([
      expect.objectContaining({ key_id: k2, requests: 2, aborted: 1, cost_usd: 0.005 }),
      expect.objectContaining({ key_id: k1, requests: 3, errors: 1, input_tokens: 110, cost_usd: 0.00105 }),
    ]);
    expect(keys.totals.requests).toBe(5);

    const models = await by("model");
    expect(models.groups.map((g: any) => [g.model, g.requests])).toEqual([["gemini/gemini-2.0-flash", 2], ["mock/echo", 2], [null, 1]]);
    const providers = await by("provider");
    expect(providers.groups.map((g: any) => [g.provider, g.requests])).toEqual([["gemini", 2], ["mock", 2], [null, 1]]);
    const teams = await by("team");
    expect(teams.groups).toEqual([expect.objectContaining({ team_id: team, requests: 5 })]);

    const days = await by("day");
    expect(days.groups.map((g: any) => [g.day, g.requests, g.cost_usd])).toEqual([
      ["2025-01-10", 2, 0.00105],
      ["2025-01-11", 2, 0.002],
      ["2025-01-12", 1, 0.003],
    ]);
  });

  it("filters by key and by time range (ISO dates, date-times or ms; from inclusive, to exclusive)", async () => {
    await seeded;
    const q = async (s: string) => (await json(await admin(`/usage?${s}`))).body;
    expect((await q(`key_id=${k1}`)).totals.requests).toBe(3);
    const day2 = await q(`team_id=${team}&from=2025-01-11&to=2025-01-12`);
    expect(day2).toMatchObject({ from: "2025-01-11T00:00:00.000Z", to: "2025-01-12T00:00:00.000Z", totals: { requests: 2 } });
    expect((await q(`team_id=${team}&from=${T0 + 1000}&to=${T0 + DAY + 5}`)).totals.requests).toBe(2);
    expect((await q(`team_id=${team}&from=2025-01-10T00:00:01Z`)).totals.requests).toBe(4);
    expect((await q(`team_id=${team}&key_id=${k2}&to=2025-01-12`)).totals).toMatchObject({ requests: 1, aborted: 1 });
  });

  it("groups by UTC hour, oldest first, and narrows by served model, provider, outcome and status", async () => {
    await seeded;
    const q = async (s: string) => (await json(await admin(`/usage?team_id=${team}&${s}`))).body;
    const hours = await q("group_by=hour");
    expect(hours.groups.map((g: any) => [g.hour, g.requests])).toEqual([
      ["2025-01-10T00:00:00.000Z", 2],
      ["2025-01-11T00:00:00.000Z", 2],
      ["2025-01-12T00:00:00.000Z", 1],
    ]);
    expect((await q("model=gemini/gemini-2.0-flash")).totals).toMatchObject({ requests: 2, cost_usd: 0.005 });
    expect((await q("model=mock/echo&group_by=key")).groups).toEqual([expect.objectContaining({ key_id: k1, requests: 2 })]);
    // A model name that is a prefix, or the provider alone, matches nothing: the filter is exact.
    expect((await q("model=gemini/gemini-2.0")).totals.requests).toBe(0);
    expect((await q("provider=gemini&group_by=model")).groups.map((g: any) => g.model)).toEqual(["gemini/gemini-2.0-flash"]);
    expect((await q("outcome=error")).totals).toMatchObject({ requests: 1, errors: 1 });
    expect((await q("status=499")).totals).toMatchObject({ requests: 1, aborted: 1 });
    expect((await q("outcome=ok&provider=mock&from=2025-01-10&to=2025-01-11")).totals.requests).toBe(2);
  });

  it("counts real calls, with the cost the calls recorded", async () => {
    const { id: t } = await createTeam();
    const { key, id } = await createKey({ team_id: t });
    for (const text of ["one", "two two"]) {
      const { res, settled } = await genaiCall("mock/echo", "generateContent", textRequest(text), key);
      expect(res.status).toBe(200);
      await settled();
    }
    const rows = await env.DB.prepare("SELECT sum(cost_usd) AS c, sum(input_tokens) AS i FROM usage WHERE key_id = ?").bind(id).first<{ c: number; i: number }>();
    const { body } = await json(await admin(`/usage?key_id=${id}&group_by=team`));
    expect(body.groups).toEqual([expect.objectContaining({ team_id: t, requests: 2, input_tokens: rows!.i, cost_usd: Math.round(rows!.c * 1e10) / 1e10 })]);
    expect(rows!.c).toBeGreaterThan(0);
  });
});

describe("/admin/logs", () => {
  const key = `key-${crypto.randomUUID()}`;
  const team = `team-${crypto.randomUUID()}`;
  // 25 rows, several sharing a timestamp, so paging must break ties on request_id.
  const rows = Array.from({ length: 25 }, (_, i) => row({ key_id: key, team_id: i % 5 === 0 ? team : null, ts: T0 + Math.floor(i / 3) * 1000 }));
  const seeded = seed(rows);
  const newestFirst = [...rows].sort((a, b) => b.ts - a.ts || (b.request_id < a.request_id ? -1 : 1)).map((r) => r.request_id);

  it("pages newest first with an opaque cursor: every row once, no next_cursor at the end", async () => {
    await seeded;
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { status, body } = await json(await admin(`/logs?key_id=${key}&limit=10${cursor ? `&cursor=${cursor}` : ""}`));
      expect(status).toBe(200);
      seen.push(...body.logs.map((l: CallRecord) => l.request_id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(newestFirst);
  });

  it("returns rows in the CallRecord shape and filters by team", async () => {
    await seeded;
    const { body } = await json(await admin(`/logs?team_id=${team}`));
    expect(body.next_cursor).toBeUndefined();
    expect(body.logs.map((l: CallRecord) => l.request_id)).toEqual(newestFirst.filter((id) => rows.find((r) => r.request_id === id)!.team_id === team));
    const r = rows.find((x) => x.request_id === body.logs[0].request_id)!;
    expect(body.logs[0]).toEqual(r);
    const both = await json(await admin(`/logs?team_id=${team}&key_id=other`));
    expect(both.body.logs).toEqual([]);
  });

  it("filters by request id, model, provider, outcome, status and time, and pages within the filter", async () => {
    const k = `key-${crypto.randomUUID()}`;
    const mixed = [
      row({ key_id: k, ts: T0 }),
      row({ key_id: k, ts: T0 + 1, provider: "openai", model: "gpt-4o-mini", status: 429, outcome: "error", error: "rate" }),
      row({ key_id: k, ts: T0 + 2, provider: "openai", model: "gpt-4o-mini" }),
      row({ key_id: k, ts: T0 + DAY, provider: null, model: null, status: 503, outcome: "error", error: "down" }),
      row({ key_id: k, ts: T0 + DAY + 1, stream: true, status: 499, outcome: "aborted" }),
    ];
    await seed(mixed);
    const ids = async (s: string) => (await json(await admin(`/logs?key_id=${k}&${s}`))).body.logs.map((l: CallRecord) => l.ts - T0);
    expect(await ids(`request_id=${mixed[3]!.request_id}`)).toEqual([DAY]);
    expect(await ids("model=openai/gpt-4o-mini")).toEqual([2, 1]);
    expect(await ids("provider=mock")).toEqual([DAY + 1, 0]);
    expect(await ids("outcome=error")).toEqual([DAY, 1]);
    expect(await ids("status=499")).toEqual([DAY + 1]);
    expect(await ids("from=2025-01-11")).toEqual([DAY + 1, DAY]);
    expect(await ids(`to=${T0 + 2}`)).toEqual([1, 0]);
    // Another key's row is not found by its request id under this key.
    expect(await ids(`request_id=${rows[0]!.request_id}`)).toEqual([]);
    const first = (await json(await admin(`/logs?key_id=${k}&outcome=ok&limit=1`))).body;
    expect(first.logs.map((l: CallRecord) => l.ts - T0)).toEqual([2]);
    const second = (await json(await admin(`/logs?key_id=${k}&outcome=ok&limit=1&cursor=${first.next_cursor}`))).body;
    expect(second.logs.map((l: CallRecord) => l.ts - T0)).toEqual([0]);
    expect(second.next_cursor).toBeUndefined();
  });

  it("shows a real call without its key or prompt", async () => {
    const { key: secret, id } = await createKey();
    const { res, settled } = await genaiCall("mock/echo", "generateContent", textRequest("secret prompt text"), secret);
    await settled();
    const r = await admin(`/logs?key_id=${id}`);
    const text = await r.text();
    expect(text).not.toContain(secret);
    expect(text).not.toContain("secret prompt text");
    expect(JSON.parse(text).logs).toEqual([
      expect.objectContaining({ request_id: res.headers.get("x-edgeway-request-id"), key_id: id, stream: false, outcome: "ok", attempts: [expect.objectContaining({ target: "mock/echo", reason: "ok" })] }),
    ]);
  });
});

describe("auth and bad parameters", () => {
  for (const path of ["/usage", "/logs"]) {
    it(`${path}: 401 without the admin token or with a wrong one`, async () => {
      const none = await SELF.fetch(`${BASE}/admin${path}`);
      expect(none.status).toBe(401);
      expect(await none.json()).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } });
      const wrong = await SELF.fetch(`${BASE}/admin${path}`, { headers: { authorization: "Bearer nope" } });
      expect(wrong.status).toBe(401);
    });
  }

  const bad: [string, string][] = [
    ["/usage?from=yesterday", "from: expected an ISO date"],
    ["/usage?to=2025-13-45", "to: expected an ISO date"],
    ["/usage?from=2025-01-02&to=2025-01-01", "to: must be after from"],
    ["/usage?group_by=color", "group_by"],
    ["/usage?groupby=key", "query"],
    ["/usage?key_id=", "key_id"],
    ["/logs?limit=0", "limit must be an integer from 1 to 1000"],
    ["/logs?limit=abc", "limit"],
    ["/logs?cursor=not-a-cursor", "cursor is not valid"],
    ["/logs?from=2025-01-02&to=2025-01-01", "to: must be after from"],
    ["/logs?since=2025-01-01", "query"],
    ["/usage?group_by=minute", "group_by"],
    ["/usage?model=gpt-4o", "model: expected provider/model"],
    ["/logs?model=/gpt-4o", "model: expected provider/model"],
    ["/usage?outcome=failed", "outcome"],
    ["/logs?status=4xx", "status: expected an HTTP status"],
    ["/logs?status=200; DROP TABLE usage", "status"],
    ["/logs?request_id=", "request_id"],
    ["/usage?request_id=abc", "query"],
  ];
  for (const [path, msg] of bad) {
    it(`400 for ${path}`, async () => {
      const { status, body } = await json(await admin(path));
      expect(status).toBe(400);
      expect(body.error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT" });
      expect(body.error.message).toContain(msg);
    });
  }
});
