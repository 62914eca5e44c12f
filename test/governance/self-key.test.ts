/** GET /genai/edgeway/key: a virtual key asks about itself (limits, budget, window counts), and about nothing else. */
import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createTeam, freezeClock } from "../helpers/governance";
import { admin, BASE, createKey, genaiSettled, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

/** "hi" capped at 11 output tokens: 1 + 11 tokens, $0.000023 on mock/echo ($1/M in, $2/M out). */
const hi = textRequest("hi", { generationConfig: { maxOutputTokens: 11 } });
const CALL_USD = 23e-6;
const use = (key: string) => genaiSettled("mock/echo", "generateContent", hi, key);
const self = (key: string, init: RequestInit & { query?: string } = {}) =>
  SELF.fetch(`${BASE}/genai/edgeway/key${init.query ?? ""}`, { ...init, headers: { "x-goog-api-key": key, ...init.headers } });

type SelfAnswer = {
  id: string;
  name: string;
  rate_limit: { rpm: number | null; tpm: number | null };
  window: { seconds: number; requests: number | null; tokens: number | null; requests_left: number | null; tokens_left: number | null };
  budget: { max_usd: number; period: string | null; spent_usd: number; left_usd: number; resets_at: string | null } | null;
  spent_lifetime_usd: number;
};

describe("GET /genai/edgeway/key", () => {
  it("answers the key's limits, its window counts, and its budget spent, left and when it resets", async () => {
    freezeClock(Date.UTC(2026, 4, 4, 12, 30));
    const { key, id } = await createKey({ name: "ci-job", rate_limit: { rpm: 10, tpm: 1000 }, budget: { max_usd: 0.001, period: "1d" } });
    expect((await use(key)).status).toBe(200);
    expect((await use(key)).status).toBe(200);
    const r = await self(key);
    expect(r.status).toBe(200);
    const a = (await r.json()) as SelfAnswer;
    expect(a).toMatchObject({ id, name: "ci-job", rate_limit: { rpm: 10, tpm: 1000 } });
    expect(a.window).toEqual({ seconds: 60, requests: 2, tokens: 24, requests_left: 8, tokens_left: 976 });
    expect(a.budget).toMatchObject({ max_usd: 0.001, period: "1d", resets_at: "2026-05-05T00:00:00.000Z" });
    expect(a.budget!.spent_usd).toBeCloseTo(2 * CALL_USD, 12);
    expect(a.budget!.left_usd).toBeCloseTo(0.001 - 2 * CALL_USD, 12);
    expect(a.spent_lifetime_usd).toBeCloseTo(2 * CALL_USD, 12);
  });

  it("a key without limits: nulls, and counts all the same", async () => {
    const { key } = await createKey();
    const a = (await (await self(key)).json()) as SelfAnswer;
    expect(a.rate_limit).toEqual({ rpm: null, tpm: null });
    expect(a.budget).toBeNull();
    expect(a.window).toEqual({ seconds: 60, requests: null, tokens: null, requests_left: null, tokens_left: null });
  });

  it("asking takes no request slot", async () => {
    const { key } = await createKey({ rate_limit: { rpm: 1 } });
    for (let i = 0; i < 3; i++) expect((await self(key)).status).toBe(200);
    expect((await use(key)).status).toBe(200);
    expect(((await (await self(key)).json()) as SelfAnswer).window).toMatchObject({ requests: 1, requests_left: 0 });
  });

  it("shows no secret, no hash, and nothing of another key or of the team", async () => {
    const team = await createTeam({ name: "shared", budget: { max_usd: 5 } });
    const mine = await createKey({ name: "mine", team_id: team.id, rate_limit: { rpm: 100 }, budget: { max_usd: 1 } });
    const other = await createKey({ name: "other", team_id: team.id, rate_limit: { rpm: 100 }, budget: { max_usd: 1 } });
    for (let i = 0; i < 3; i++) expect((await use(other.key)).status).toBe(200);
    expect((await use(mine.key)).status).toBe(200);
    // Another key's id in the query, or a second credential, changes nothing: the answer is the caller's key.
    const r = await self(mine.key, { query: `?id=${other.id}&key_id=${other.id}` });
    const text = await r.text();
    const a = JSON.parse(text) as SelfAnswer;
    expect(a.id).toBe(mine.id);
    expect(a.window.requests).toBe(1);
    expect(a.budget!.spent_usd).toBeCloseTo(CALL_USD, 12);
    expect(text).not.toContain(other.id);
    expect(text).not.toContain(mine.key);
    expect(text).not.toContain(mine.key.slice(0, 10));
    expect(text).not.toMatch(/hash|"key"|[0-9a-f]{64}/);
  });

  it("a revoked or inactive key gets 403, a rotated-away secret 401, no key 401, as any call", async () => {
    const revoked = await createKey();
    await admin(`/keys/${revoked.id}`, { method: "DELETE" });
    expect((await self(revoked.key)).status).toBe(403);
    const inactive = await createKey();
    await admin(`/keys/${inactive.id}`, { method: "PATCH", body: { active: false } });
    expect((await self(inactive.key)).status).toBe(403);
    const rotated = await createKey();
    await admin(`/keys/${rotated.id}/rotate`, { method: "POST" });
    expect((await self(rotated.key)).status).toBe(401);
    expect((await SELF.fetch(`${BASE}/genai/edgeway/key`)).status).toBe(401);
    expect((await self("sk-bf-" + "x".repeat(40))).status).toBe(401);
  });

  it("another method: 404 saying it takes GET", async () => {
    const { key } = await createKey();
    const r = await self(key, { method: "POST", body: "{}" });
    expect(r.status).toBe(404);
    expect(await r.json()).toMatchObject({ error: { status: "NOT_FOUND", message: expect.stringContaining("this path takes GET") } });
  });
});
