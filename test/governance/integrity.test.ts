/**
 * Governance tried as a hostile key holder would: unpriced models, bursts against a budget, aborted translated
 * streams, races between admin writes, a Governor whose usage log or settlement fails, loose admin input.
 */
import { createExecutionContext, env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/auth/crypto";
import worker from "../../src/index";
import { settleRecords } from "../../src/usage/settle";
import { usageLog } from "../../src/governance/usage-log";
import type { CallRecord } from "../../src/usage/row";
import { invalidateLease } from "../../src/governance/lease";
import { counters, createTeam, freezeClock } from "../helpers/governance";
import { admin, BASE, createKey, flushUsage, genai, genaiCall, genaiSettled, mockUpstream, sseResponse, textRequest, usageRow } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

/** A Gemini upstream that spends every output token it was allowed: the worst case, every time. */
function greedyGemini() {
  return mockUpstream((c) => {
    const body = JSON.parse(c.body) as { generationConfig?: { maxOutputTokens?: number } };
    const out = body.generationConfig?.maxOutputTokens ?? 8192;
    const usageMetadata = { promptTokenCount: 5, candidatesTokenCount: out, totalTokenCount: 5 + out };
    const answer = { candidates: [{ content: { role: "model", parts: [{ text: "x".repeat(16) }] }, finishReason: "MAX_TOKENS", index: 0 }], usageMetadata };
    if (c.url.includes("streamGenerateContent")) {
      return sseResponse([
        `data: ${JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: "x" }] }, index: 0 }] })}\r\n\r\n`,
        `data: ${JSON.stringify(answer)}\r\n\r\n`,
      ]);
    }
    return Response.json(answer);
  });
}

describe("no model is free by accident", () => {
  it("a key with a budget may not call a model without a price: 403 naming the model and PRICES", async () => {
    mockUpstream(() => Response.json({}));
    const { key } = await createKey({ budget: { max_usd: 1 } });
    for (const model of ["openai/o9-experimental", "gemini/gemini-9-ultra-preview"]) {
      const r = await genai(model, "generateContent", textRequest("hi"), key);
      expect(r.status).toBe(403);
      const e = await errorOf(r);
      expect(e.status).toBe("PERMISSION_DENIED");
      expect(e.message).toContain(`model "${model}" has no price`);
      expect(e.message).toContain("PRICES");
    }
  });

  it("the same holds for a key whose team has the budget", async () => {
    const team = await createTeam({ budget: { max_usd: 1 } });
    const { key } = await createKey({ team_id: team.id });
    expect((await genai("openai/o9-experimental", "generateContent", textRequest("hi"), key)).status).toBe(403);
  });

  it("an unpriced fallback is skipped (listed, never called); a priced model serves", async () => {
    const calls = mockUpstream(() => Response.json({ error: { code: 503, message: "down" } }, { status: 503 }));
    const { key } = await createKey({ budget: { max_usd: 1 } });
    const body = textRequest("hi", { fallbacks: ["openai/o9-experimental", "mock/echo"], generationConfig: { maxOutputTokens: 20 } });
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", body, key);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(calls.map((c) => new URL(c.url).host)).toEqual(["gemini.upstream.test"]);
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(JSON.parse(row!.attempts_json as string)).toMatchObject([
      { target: "gemini/gemini-2.0-flash", reason: "upstream 503" },
      { target: "openai/o9-experimental", reason: "no price (budget)", skipped: true },
      { target: "mock/echo", reason: "ok" },
    ]);
  });

  it("a budget this isolate learns of only from the key's Governor (KV stale, no budget shown) still refuses an unpriced model", async () => {
    mockUpstream(() => Response.json({ choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }] }));
    const { key, id } = await createKey({ budget: { max_usd: 1 } });
    const record = (await (await admin(`/keys/${id}`)).json()) as Record<string, unknown>;
    // As another isolate would see it: KV still serves the record from before the budget, and no lease is held yet.
    await env.VIRTUAL_KEYS.put(`vk:${await sha256Hex(key)}`, JSON.stringify({ ...record, budget: undefined }));
    const r = await genai("openai/o9-experimental", "generateContent", textRequest("hi"), key);
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toContain('model "openai/o9-experimental" has no price');
    // A priced model is served under the same budget.
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(200);
  });

  it("without any budget an unpriced model is still served (and costs $0)", async () => {
    mockUpstream(() => Response.json({ choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }] }));
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const { key } = await createKey();
    expect((await genai("openai/o9-experimental", "generateContent", textRequest("hi"), key)).status).toBe(200);
  });
});

describe("a burst against a small budget", () => {
  it.each(["generateContent", "streamGenerateContent"])("40 concurrent %s calls spend at most the budget", async (action) => {
    freezeClock();
    greedyGemini();
    const budget = 0.002; // gemini-2.0-flash: 1000 output tokens at $0.4/M = $0.0004 a call
    const { key, id } = await createKey({ budget: { max_usd: budget } });
    const body = textRequest("spend it all", { generationConfig: { maxOutputTokens: 1000 } });
    const results = await Promise.all(Array.from({ length: 40 }, () => genaiSettled("gemini-2.0-flash", action, body, key)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 402)).toBe(true);
    const spent = await env.DB.prepare("SELECT total(cost_usd) AS usd FROM usage WHERE key_id = ?").bind(id).first<{ usd: number }>();
    expect(spent!.usd).toBeGreaterThan(budget * 0.5);
    expect(spent!.usd).toBeLessThanOrEqual(budget * 1.1);
    expect((await counters("key", id)).spent_usd).toBeCloseTo(spent!.usd, 10);
  });

  it("a team budget holds across many keys calling at once", async () => {
    freezeClock();
    greedyGemini();
    const team = await createTeam({ budget: { max_usd: 0.002 } });
    const keys = await Promise.all(Array.from({ length: 5 }, () => createKey({ team_id: team.id })));
    const body = textRequest("spend", { generationConfig: { maxOutputTokens: 1000 } });
    await Promise.all(keys.flatMap((k) => Array.from({ length: 8 }, () => genaiSettled("gemini-2.0-flash", "generateContent", body, k.key))));
    const spent = await env.DB.prepare("SELECT total(cost_usd) AS usd FROM usage WHERE team_id = ?").bind(team.id).first<{ usd: number }>();
    expect(spent!.usd).toBeLessThanOrEqual(0.002 * 1.1);
  });
});

describe("aborted translated streams are charged what they used", () => {
  /** An upstream stream that sends `first`, then waits until the client goes away. */
  function gated(first: string[]) {
    let release!: () => void;
    const gone = new Promise<void>((r) => (release = r));
    const calls = mockUpstream(() => sseResponse(first, {}, gone));
    return { calls, release };
  }

  it("Anthropic: the input count from message_start, and the output sent so far", async () => {
    const { release } = gated([
      `event: message_start\ndata: ${JSON.stringify({ type: "message_start", message: { id: "m", model: "claude-haiku-4-5", usage: { input_tokens: 1200, output_tokens: 1 } } })}\n\n`,
      `event: content_block_start\ndata: ${JSON.stringify({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })}\n\n`,
      `event: content_block_delta\ndata: ${JSON.stringify({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "The first forty characters of an answer." } })}\n\n`,
    ]);
    const { key } = await createKey();
    const { res, settled } = await genaiCall("anthropic/claude-haiku-4-5", "streamGenerateContent", textRequest("hi"), key, { query: "?alt=sse" });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    release();
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ outcome: "aborted", input_tokens: 1200, output_tokens: 10 });
    // Claude Haiku 4.5: $1/M in, $5/M out.
    expect(row!.cost_usd).toBeCloseTo((1200 * 1 + 10 * 5) / 1e6, 12);
  });

  it("OpenAI: the input as estimated at admission, and the output sent so far", async () => {
    const { release } = gated([
      `data: ${JSON.stringify({ id: "c", model: "gpt-4o-mini", choices: [{ index: 0, delta: { role: "assistant", content: "Twenty characters!!!" } }] })}\n\n`,
    ]);
    const { key } = await createKey();
    const prompt = "p".repeat(400); // 100 tokens at four characters a token
    const { res, settled } = await genaiCall("openai/gpt-4o-mini", "streamGenerateContent", textRequest(prompt), key, { query: "?alt=sse" });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    release();
    await settled();
    const row = await usageRow(res.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ outcome: "aborted", input_tokens: 100, output_tokens: 5 });
    expect(row!.cost_usd).toBeGreaterThan(0);
  });
});

describe("a team deleted under its keys", () => {
  const teamGovernor = (id: string) => env.GOVERNOR.get(env.GOVERNOR.idFromName(`team:${id}`));
  const refusalsOf = async (keyId: string) =>
    (await env.DB.prepare("SELECT status, reason, count FROM refusals WHERE key_id = ?").bind(keyId).all<Record<string, unknown>>()).results;

  /**
   * The team deleted at its Governor while a key still names it: what a key created (or moved) into the team at the
   * moment of its deletion is left with, since the admin API's "team still has keys" check reads KV and no lock
   * spans the two objects.
   */
  async function keyLeftInDeletedTeam(teamFields: Record<string, unknown> = {}) {
    const team = await createTeam(teamFields);
    const { key, id } = await createKey({ name: "left behind", team_id: team.id });
    return { team, key, id, remove: async () => {
      expect((await teamGovernor(team.id).deleteTeam()).ok).toBe(true);
      invalidateLease("team", team.id);
    } };
  }

  it("its key is refused on every call (403, counted as \"team deleted\"): the team's limits never lift", async () => {
    mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] }));
    const { team, key, id, remove } = await keyLeftInDeletedTeam({ rate_limit: { rpm: 1 } });
    expect((await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key)).status).toBe(200);
    expect((await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key)).status).toBe(429);
    await remove();
    const clock = freezeClock();
    for (let i = 0; i < 3; i++) {
      // Served from the isolate's cached refusal, then asked again once it is stale: the same answer.
      const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
      expect(r.status).toBe(403);
      expect((await errorOf(r)).message).toBe(`the key's team "${team.id}" was deleted: move the key to another team (PATCH team_id) or take it out of the team`);
      clock.advance(5_000);
    }
    await flushUsage();
    expect(await refusalsOf(id)).toContainEqual({ status: 403, reason: "team deleted", count: 3 });
    // Moved out of the team, the key works again.
    expect((await admin(`/keys/${id}`, { method: "PATCH", body: { team_id: null } })).status).toBe(200);
    expect((await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key)).status).toBe(200);
  });

  it("a key whose lease on the team was renewed in the background is refused before its first byte", async () => {
    const calls = mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] }));
    // A team without limits: once its lease is granted, renewals run beside the calls (no blocking round trip).
    const { key, remove } = await keyLeftInDeletedTeam();
    expect((await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key)).status).toBe(200);
    await remove();
    // The next call renews the team's lease in the background and goes upstream meanwhile; the refusal is in before
    // anything goes to the client.
    const before = calls.length;
    const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
    expect(calls.length).toBe(before + 1);
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toContain("was deleted");
  });

  it("is never brought back: not by a create at its Governor, a PATCH, or a key naming it while KV still shows it", async () => {
    const team = await createTeam({ name: "gone" });
    const stored = await env.VIRTUAL_KEYS.get(`team:${team.id}`);
    expect((await admin(`/teams/${team.id}`, { method: "DELETE" })).status).toBe(200);
    const again = await teamGovernor(team.id).createTeam({ ...team, name: "back" } as never);
    expect(again).toMatchObject({ ok: false, code: 409 });
    expect((await admin(`/teams/${team.id}`, { method: "PATCH", body: { name: "back" } })).status).toBe(404);
    // KV read at another location may still show the team for a while.
    await env.VIRTUAL_KEYS.put(`team:${team.id}`, stored!);
    const created = await admin("/keys", { body: { name: "late", team_id: team.id } });
    expect(created.status).toBe(400);
    expect((await errorOf(created)).message).toBe(`team_id: team "${team.id}" was deleted`);
    const { id } = await createKey({ name: "elsewhere" });
    expect((await admin(`/keys/${id}`, { method: "PATCH", body: { team_id: team.id } })).status).toBe(400);
  });

  it("POST key ∥ DELETE team (16 trials): a key that lands in the deleted team never works; the team's Governor judges, whatever KV shows", async () => {
    mockUpstream(() => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] }));
    const seen: string[] = [];
    for (let i = 0; i < 16; i++) {
      const team = await createTeam({ name: `race-${i}` });
      const stored = await env.VIRTUAL_KEYS.get(`team:${team.id}`);
      const [k, d] = await Promise.all([admin("/keys", { body: { name: `race-${i}`, team_id: team.id } }), admin(`/teams/${team.id}`, { method: "DELETE" })]);
      seen.push(`${k.status}/${d.status}`);
      if (k.status !== 201) {
        expect(k.status).toBe(400);
        expect(d.status).toBe(200);
        continue;
      }
      const { key } = (await k.json()) as { key: string };
      const r = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
      // The team still exists (its deletion saw the key and was refused), or the key is refused: never served in a
      // team that no longer exists.
      if (d.status === 200) {
        expect(r.status).toBe(403);
        const deleted = `the key's team "${team.id}" was deleted: move the key to another team (PATCH team_id) or take it out of the team`;
        expect((await errorOf(r)).message).toBe(deleted);
        // A KV read elsewhere may still show the team, without limits (no blocking round trip): its Governor's
        // tombstone still refuses the key, before anything goes to the client.
        await env.VIRTUAL_KEYS.put(`team:${team.id}`, stored!);
        invalidateLease("team", team.id);
        const stale = await genai("gemini-2.0-flash", "generateContent", textRequest("x"), key);
        expect(stale.status).toBe(403);
        expect((await errorOf(stale)).message).toBe(deleted);
      } else expect([d.status, r.status]).toEqual([409, 200]);
    }
    expect(seen.length).toBe(16);
  }, 60_000);
});

describe("concurrent admin writes to one key", { timeout: 120_000 }, () => {
  const trials = 32;

  /** Every secret a trial issued, and which of them the gateway still takes. */
  async function working(secrets: string[]): Promise<string[]> {
    const ok: string[] = [];
    for (const s of secrets) {
      const r = await genai("mock/echo", "generateContent", textRequest("hi"), s);
      if (r.status === 200) ok.push(s);
    }
    return ok;
  }

  async function vkEntries(secrets: string[]): Promise<number> {
    let n = 0;
    for (const s of secrets) if (await env.VIRTUAL_KEYS.get(`vk:${await sha256Hex(s)}`)) n++;
    return n;
  }

  it(`PATCH ∥ DELETE (${trials} trials): revocation always wins, and stays`, async () => {
    for (let i = 0; i < trials; i++) {
      const { id, key } = await createKey({ name: `race-${i}` });
      const [p, d] = await Promise.all([
        admin(`/keys/${id}`, { method: "PATCH", body: { name: `renamed-${i}`, active: true } }),
        admin(`/keys/${id}`, { method: "DELETE" }),
      ]);
      expect(d.status).toBe(200);
      expect([200, 409]).toContain(p.status);
      expect(await working([key])).toEqual([]);
      const rec = (await (await admin(`/keys/${id}`)).json()) as { revoked_at: string | null; active: boolean };
      expect(rec.revoked_at).toBeTruthy();
      expect(rec.active).toBe(false);
      // A later attempt to bring it back is refused.
      expect((await admin(`/keys/${id}`, { method: "PATCH", body: { active: true } })).status).toBe(409);
    }
  });

  it(`rotate ∥ DELETE (${trials} trials): no secret ever issued works afterwards`, async () => {
    for (let i = 0; i < trials; i++) {
      const { id, key } = await createKey({ name: `race-${i}` });
      const [rot, d] = await Promise.all([admin(`/keys/${id}/rotate`, { method: "POST" }), admin(`/keys/${id}`, { method: "DELETE" })]);
      expect(d.status).toBe(200);
      const secrets = [key];
      if (rot.status === 200) secrets.push(((await rot.json()) as { key: string }).key);
      else expect(rot.status).toBe(409);
      expect(await working(secrets)).toEqual([]);
    }
  });

  it(`rotate ∥ PATCH (${trials} trials): exactly the newest secret works, and no older one resolves in KV`, async () => {
    for (let i = 0; i < trials; i++) {
      const { id, key } = await createKey({ name: `race-${i}` });
      const [rot, p] = await Promise.all([
        admin(`/keys/${id}/rotate`, { method: "POST" }),
        admin(`/keys/${id}`, { method: "PATCH", body: { name: `patched-${i}` } }),
      ]);
      expect(rot.status).toBe(200);
      expect(p.status).toBe(200);
      const rotated = ((await rot.json()) as { key: string }).key;
      // A second rotation later: still exactly one working secret.
      const again = ((await (await admin(`/keys/${id}/rotate`, { method: "POST" })).json()) as { key: string }).key;
      const secrets = [key, rotated, again];
      expect(await working(secrets)).toEqual([again]);
      expect(await vkEntries(secrets)).toBe(1);
      const rec = (await (await admin(`/keys/${id}`)).json()) as { name: string; rotations: number };
      expect(rec).toMatchObject({ name: `patched-${i}`, rotations: 2 });
    }
  });

  it("If-Match makes a write conditional: a stale revision is refused with 409, nothing applied", async () => {
    const { id } = await createKey({ name: "cond" });
    const read = await admin(`/keys/${id}`);
    const etag = read.headers.get("etag")!;
    const rev = ((await read.json()) as { revision: number }).revision;
    expect(etag).toBe(`"${rev}"`);
    const first = await SELF.fetch(`${BASE}/admin/keys/${id}`, {
      method: "PATCH", headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json", "if-match": etag },
      body: JSON.stringify({ name: "first" }),
    });
    expect(first.status).toBe(200);
    expect(((await first.json()) as { revision: number }).revision).toBe(rev + 1);
    const stale = await SELF.fetch(`${BASE}/admin/keys/${id}`, {
      method: "PATCH", headers: { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json", "if-match": etag },
      body: JSON.stringify({ name: "second" }),
    });
    expect(stale.status).toBe(409);
    expect((await errorOf(stale)).message).toMatch(/revision/);
    expect(((await (await admin(`/keys/${id}`)).json()) as { name: string }).name).toBe("first");
  });
});

describe("no silent loss in governance", () => {
  it("D1 unreadable while a budget is set: 503 with a clear message, nothing changed, and the object still serves", async () => {
    const { id, key } = await createKey({ name: "d1-down" });
    vi.spyOn(console, "error").mockImplementation(() => {});
    const read = vi.spyOn(usageLog, "spendByHour").mockRejectedValue(new Error("D1_ERROR: database unavailable"));
    const r = await admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: 1 } } });
    expect(r.status).toBe(503);
    expect((await errorOf(r)).message).toMatch(/could not read the usage log/);
    expect(read).toHaveBeenCalled();
    // Nothing changed, and the same object keeps answering.
    expect(((await (await admin(`/keys/${id}`)).json()) as { budget?: unknown }).budget ?? null).toBeNull();
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), key)).status).toBe(200);
    read.mockRestore();
    expect((await admin(`/keys/${id}`, { method: "PATCH", body: { budget: { max_usd: 1 } } })).status).toBe(200);
  });

  it("a settlement that could not land is retried under the same batch id, and counts once", async () => {
    freezeClock();
    const { id } = await createKey({ name: "settle", budget: { max_usd: 1 } });
    const row = (usd: number): CallRecord => ({
      request_id: crypto.randomUUID(), ts: Date.now(), key_id: id, team_id: null, requested_model: "mock/echo", provider: "mock",
      model: "echo", action: "generateContent", stream: false, status: 200, outcome: "ok", error: null, attempts: [],
      fallback_index: 0, tokens: { input: 1, output: 1, cached: 0, thinking: 0, tool_use: 0 }, cost_usd: usd, latency_ms: 1, ttfb_ms: 1,
      settle: { key: "" },
    });
    const batch = [row(0.25), row(0.5)];
    const down = { GOVERNOR: { idFromName: (n: string) => env.GOVERNOR.idFromName(n), get: () => ({ settle: () => Promise.reject(new Error("object reset")) }) } };
    await expect(settleRecords(down as never, "batch-1", batch)).rejects.toThrow(/object reset/);
    expect((await counters("key", id)).spent_usd).toBe(0);
    await settleRecords(env, "batch-1", batch);
    await settleRecords(env, "batch-1", batch); // a replay of the same batch
    expect((await counters("key", id)).spent_usd).toBeCloseTo(0.75, 12);
  });
});

describe("admin input is parsed like request input", () => {
  it.each([
    [{ fallbacks: ["mock/echo x"] }, /fallbacks\.0: invalid model "mock\/echo x"/],
    [{ fallbacks: Array.from({ length: 8 }, (_, i) => `mock/m${i}`) }, /fallbacks: at most 7 fallbacks/],
    [{ fallbacks: ["gemini/gemini-2.5-flash/../gemini-2.5-pro"] }, /fallbacks\.0: invalid model/],
    [{ models: ["gemini-2.5-flash/../x"] }, /models\.0: invalid model pattern/],
    [{ models: ["gemini\u0000*"] }, /models\.0: invalid model pattern/],
    [{ providers: ["OpenAI"] }, /providers\.0/],
  ])("%j is refused with 400", async (fields, message) => {
    const r = await admin("/keys", { body: { name: "loose", ...fields } });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toMatch(message);
  });

  it("the admin API refuses to serve with an ADMIN_TOKEN shorter than 32 characters, and says so", async () => {
    const short = "short-but-set";
    const res = await worker.fetch(
      new Request(`${BASE}/admin/keys`, { headers: { authorization: `Bearer ${short}` } }),
      { ...env, ADMIN_TOKEN: short },
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    expect((await errorOf(res)).message).toMatch(/ADMIN_TOKEN is 13 characters long, and must be at least 32/);
  });
});

describe("refusals before the body is read", () => {
  /** A body without end: read, it would be refused as too large (413); refused first, the status says why. */
  const endless = () => {
    const chunk = new Uint8Array(64 * 1024).fill(32);
    return new ReadableStream({ pull: (c) => c.enqueue(chunk) }, { highWaterMark: 0 });
  };

  it("a revoked key and a key at its rate limit are refused without reading the body (not 413)", async () => {
    freezeClock();
    const revoked = await createKey();
    await admin(`/keys/${revoked.id}`, { method: "DELETE" });
    const limited = await createKey({ rate_limit: { rpm: 1 } });
    expect((await genai("mock/echo", "generateContent", textRequest("hi"), limited.key)).status).toBe(200);
    for (const [key, status] of [[revoked.key, 403], [limited.key, 429]] as const) {
      const r = await SELF.fetch(`${BASE}/genai/v1beta/models/mock/echo:generateContent`, {
        method: "POST", headers: { "x-goog-api-key": key, "content-type": "application/json" }, body: endless(),
        // @ts-expect-error workerd needs duplex for a stream body
        duplex: "half",
      });
      expect(r.status).toBe(status);
    }
  });
});
