/** Revocation, expiry, rotation, allow-lists, the filtered models list and key default fallbacks, end to end. */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sha256Hex } from "../../src/auth/crypto";
import { matchesGlob } from "../../src/lib/globs";
import { counters, freezeClock } from "../helpers/governance";
import { admin, BASE, createKey, genai, mockUpstream, textRequest } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const hi = textRequest("hi");
const call = (key: string, model = "mock/echo", body: unknown = hi) => genai(model, "generateContent", body, key);

async function errorOf(r: Response) {
  return ((await r.json()) as { error: { code: number; message: string; status: string } }).error;
}

/** Puts a key record back under a secret's hash, as a stale KV edge cache would still serve it. */
async function serveStale(secret: string, record: unknown) {
  await env.VIRTUAL_KEYS.put(`vk:${await sha256Hex(secret)}`, JSON.stringify(record));
}

const geminiOk = () =>
  Response.json({
    candidates: [{ content: { role: "model", parts: [{ text: "from gemini" }] }, finishReason: "STOP" }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 2, totalTokenCount: 3 },
  });

describe("revocation", () => {
  it("DELETE revokes at once and keeps the record", async () => {
    const { key, id } = await createKey();
    expect((await call(key)).status).toBe(200);
    const del = await admin(`/keys/${id}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    const r = await call(key);
    expect(r.status).toBe(403);
    expect(await errorOf(r)).toEqual({ code: 403, status: "PERMISSION_DENIED", message: "API key has been revoked" });
    const kept = (await (await admin(`/keys/${id}`)).json()) as { active: boolean; revoked_at: string };
    expect(kept.active).toBe(false);
    expect(kept.revoked_at).toMatch(/^\d{4}-/);
  });

  it("is enforced by the key's Durable Object even while KV still serves the old record", async () => {
    const { key, id } = await createKey();
    const before = await (await admin(`/keys/${id}`)).json();
    await admin(`/keys/${id}`, { method: "DELETE" });
    await serveStale(key, before);
    const r = await call(key);
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toBe("API key has been revoked");
  });

  it("active=false refuses, active=true admits again, even with a stale KV record", async () => {
    const { key, id } = await createKey();
    const before = await (await admin(`/keys/${id}`)).json();
    await admin(`/keys/${id}`, { method: "PATCH", body: { active: false } });
    await serveStale(key, before); // before any read caches the new record in this isolate
    expect((await errorOf(await call(key))).message).toBe("API key is inactive");
    await admin(`/keys/${id}`, { method: "PATCH", body: { active: true } });
    expect((await call(key)).status).toBe(200);
  });
});

describe("expiry", () => {
  it("a key created already expired is refused", async () => {
    const { key } = await createKey({ expires_at: "2020-01-01T00:00:00Z" });
    const r = await call(key);
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toBe("API key has expired");
  });

  it("a key stops working when its expiry passes", async () => {
    const clock = freezeClock();
    const { key } = await createKey({ expires_at: new Date(clock.now + 3_600_000).toISOString() });
    expect((await call(key)).status).toBe(200);
    clock.advance(3_600_000);
    const r = await call(key);
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toBe("API key has expired");
  });
});

describe("rotation", () => {
  it("returns a new secret for the same key; the old one stops working; limits and counters carry over", async () => {
    freezeClock();
    const created = await createKey({ name: "rot", rate_limit: { rpm: 2 } });
    expect((await call(created.key)).status).toBe(200);

    const r = await admin(`/keys/${created.id}/rotate`, { method: "POST" });
    expect(r.status).toBe(200);
    const rotated = (await r.json()) as { id: string; key: string; prefix: string; rotations: number; rate_limit: unknown };
    expect(rotated.id).toBe(created.id);
    expect(rotated.key).toMatch(/^sk-bf-[A-Za-z0-9]{40}$/);
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.prefix).toBe(rotated.key.slice(0, 10));
    expect(rotated.rotations).toBe(1);
    expect(rotated.rate_limit).toEqual({ rpm: 2 });

    const old = await call(created.key);
    expect(old.status).toBe(401);
    expect((await errorOf(old)).status).toBe("UNAUTHENTICATED");
    expect((await call(rotated.key)).status).toBe(200);
    expect((await call(rotated.key)).status).toBe(429); // the same per-minute window as before the rotation
    expect((await counters("key", created.id)).requests).toBe(2);
  });

  it("refuses the old secret through the Durable Object even while KV still serves it", async () => {
    const created = await createKey();
    const before = await (await admin(`/keys/${created.id}`)).json();
    await admin(`/keys/${created.id}/rotate`, { method: "POST" });
    await serveStale(created.key, before);
    const r = await call(created.key);
    expect(r.status).toBe(401);
    expect((await errorOf(r)).message).toBe("API key not valid (it was rotated)");
  });

  it("a revoked key cannot be rotated back to life", async () => {
    const { id } = await createKey();
    await admin(`/keys/${id}`, { method: "DELETE" });
    const r = await admin(`/keys/${id}/rotate`, { method: "POST" });
    expect(r.status).toBe(409);
    expect((await errorOf(r)).message).toContain("revoked");
  });
});

describe("allow-lists", () => {
  it("globs: `*` matches any run of characters, anchored at both ends", () => {
    expect(matchesGlob("gemini-*", "gemini-2.5-flash")).toBe(true);
    expect(matchesGlob("openai/*", "openai/gpt-4o-mini")).toBe(true);
    expect(matchesGlob("openai/*", "anthropic/claude")).toBe(false);
    expect(matchesGlob("gemini-2.5-*", "gemini-2.0-flash")).toBe(false);
    expect(matchesGlob("gpt-4o", "gpt-4o-mini")).toBe(false);
    expect(matchesGlob("gemini-2.5-flash", "gemini-2.5-flashy")).toBe(false);
    expect(matchesGlob("a.b", "axb")).toBe(false); // `.` is literal
    expect(matchesGlob("*", "anything/at-all")).toBe(true);
  });

  it("admits models matching a glob and refuses the rest with 403", async () => {
    mockUpstream(geminiOk);
    const { key } = await createKey({ name: "globby", models: ["gemini-2.5-*", "mock/*"] });
    expect((await call(key, "gemini-2.5-flash")).status).toBe(200);
    expect((await call(key, "gemini/gemini-2.5-pro")).status).toBe(200);
    expect((await call(key, "mock/echo")).status).toBe(200);
    const r = await call(key, "gemini-2.0-flash");
    expect(r.status).toBe(403);
    expect((await errorOf(r)).message).toBe('model "gemini/gemini-2.0-flash" is not allowed for key "globby"');
  });

  it("a provider allow-list refuses other providers", async () => {
    const { key } = await createKey({ providers: ["mock"] });
    expect((await call(key, "mock/echo")).status).toBe(200);
    expect((await call(key, "gemini-2.5-flash")).status).toBe(403);
  });

  it("a disallowed fallback is skipped, not an error", async () => {
    mockUpstream(() => new Response("down", { status: 503 }));
    const { key } = await createKey({ models: ["gemini-*"] });
    const r = await call(key, "gemini-2.5-flash", { ...hi, fallbacks: ["mock/echo"] });
    expect(r.status).toBe(503);
    const body = (await r.json()) as { error: { details: { target: string; reason: string }[] } };
    expect(body.error.details.map((d) => [d.target, d.reason])).toEqual([
      ["gemini/gemini-2.5-flash", "upstream 503"],
      ["mock/echo", "not allowed for key"],
    ]);
  });

  it("GET models lists only what the key may use, and GET one hides the rest", async () => {
    const { key } = await createKey({ models: ["gemini-2.5-flash*", "mock/*"] });
    const list = (await (await SELF.fetch(`${BASE}/genai/v1beta/models`, { headers: { "x-goog-api-key": key } })).json()) as {
      models: { name: string }[];
      nextPageToken?: string;
    };
    expect(list.models.map((m) => m.name).sort()).toEqual(["models/gemini-2.5-flash", "models/gemini-2.5-flash-lite", "models/mock/echo"]);
    expect(list).not.toHaveProperty("nextPageToken");
    const hidden = await SELF.fetch(`${BASE}/genai/v1beta/models/gemini-2.5-pro`, { headers: { "x-goog-api-key": key } });
    expect(hidden.status).toBe(404);
    const shown = await SELF.fetch(`${BASE}/genai/v1/models/gemini-2.5-flash`, { headers: { "x-goog-api-key": key } });
    expect(((await shown.json()) as { name: string }).name).toBe("models/gemini-2.5-flash");
  });

  it("a key with no allow-list sees every configured model", async () => {
    const { key } = await createKey();
    const list = (await (await SELF.fetch(`${BASE}/genai/v1beta/models`, { headers: { "x-goog-api-key": key } })).json()) as {
      models: { name: string }[];
    };
    expect(list.models.map((m) => m.name)).toEqual(expect.arrayContaining(["models/gemini-2.5-pro", "models/mock/echo"]));
  });
});

describe("key default fallbacks", () => {
  it("are used when the body names none", async () => {
    const upstream = mockUpstream(() => new Response("overloaded", { status: 503 }));
    const { key, fallbacks } = await createKey({ fallbacks: ["mock/echo"] });
    expect(fallbacks).toEqual(["mock/echo"]);
    const r = await call(key, "gemini-2.5-flash");
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(r.headers.get("x-edgeway-model")).toBe("echo");
    expect(r.headers.get("x-edgeway-attempts")).toBe("2");
    expect(upstream).toHaveLength(1);
  });

  it("give way to the body's own fallbacks (an empty list means none)", async () => {
    mockUpstream(() => new Response("overloaded", { status: 503 }));
    const { key } = await createKey({ fallbacks: ["mock/echo"] });
    const r = await call(key, "gemini-2.5-flash", { ...hi, fallbacks: [] });
    expect(r.status).toBe(503);
    expect(r.headers.get("x-edgeway-attempts")).toBe("1");
  });
});
