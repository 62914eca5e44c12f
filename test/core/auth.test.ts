/** Virtual keys: every credential source in the contract's order, the 401/403 answers, and the admin key API. */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/auth/crypto";
import { admin, BASE, createKey, genai, textRequest } from "../helpers/worker";

const url = (q = "") => `${BASE}/genai/v1beta/models/mock/echo:generateContent${q}`;
const post = (headers: Record<string, string>, q = "") =>
  SELF.fetch(url(q), { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(textRequest("hi")) });

describe("credentials", () => {
  it.each([
    ["x-bf-vk", (k: string) => ({ headers: { "x-bf-vk": k } })],
    ["Authorization: Bearer", (k: string) => ({ headers: { authorization: `Bearer ${k}` } })],
    ["x-goog-api-key", (k: string) => ({ headers: { "x-goog-api-key": k } })],
    ["x-api-key", (k: string) => ({ headers: { "x-api-key": k } })],
    ["?key=", (k: string) => ({ headers: {}, q: `?key=${k}` })],
  ])("reads the key from %s", async (_name, place) => {
    const { key } = await createKey();
    const p = place(key) as { headers: Record<string, string>; q?: string };
    const r = await post(p.headers, p.q);
    expect(r.status).toBe(200);
  });

  it("takes the first source in contract order when several are present", async () => {
    const { key } = await createKey();
    const wrong = "sk-bf-" + "A".repeat(40);
    expect((await post({ "x-bf-vk": key, "x-goog-api-key": wrong })).status).toBe(200);
    expect((await post({ "x-bf-vk": wrong, "x-goog-api-key": key })).status).toBe(401);
  });

  it("missing key: 401 UNAUTHENTICATED", async () => {
    const r = await post({});
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: { code: 401, status: "UNAUTHENTICATED" } });
  });

  it.each(["AIzaSyFakeGoogleKey", "sk-bf-short", "sk-bf-" + "!".repeat(40)])("malformed key %s: 401", async (k) => {
    const r = await post({ "x-goog-api-key": k });
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: { status: "UNAUTHENTICATED" } });
  });

  it("well-formed but unknown key: 401", async () => {
    const r = await post({ "x-goog-api-key": "sk-bf-" + "z".repeat(40) });
    expect(r.status).toBe(401);
    expect(((await r.json()) as any).error.message).toBe("API key not valid");
  });

  it("revoked, inactive and expired keys: 403 PERMISSION_DENIED", async () => {
    const revoked = await createKey();
    expect((await admin(`/keys/${revoked.id}`, { method: "DELETE" })).status).toBe(200);
    const inactive = await createKey({ active: false });
    const expired = await createKey({ expires_at: "2020-01-01T00:00:00Z" });
    for (const [k, msg] of [[revoked.key, /revoked/], [inactive.key, /inactive/], [expired.key, /expired/]] as const) {
      const r = await post({ "x-goog-api-key": k });
      expect(r.status).toBe(403);
      const body = (await r.json()) as any;
      expect(body.error.status).toBe("PERMISSION_DENIED");
      expect(body.error.message).toMatch(msg);
    }
  });

  it("model and provider allow-lists: 403 outside, 200 inside", async () => {
    const { key } = await createKey({ models: ["mock/ec*"] });
    expect((await genai("mock/echo", "generateContent", textRequest("x"), key)).status).toBe(200);
    const denied = await genai("mock/other", "generateContent", textRequest("x"), key);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as any).error.message).toMatch(/not allowed/);
    const byProvider = await createKey({ providers: ["gemini"] });
    expect((await genai("mock/echo", "generateContent", textRequest("x"), byProvider.key)).status).toBe(403);
  });

  it("stores only the SHA-256 hash of the key in KV", async () => {
    const { key, id } = await createKey({ name: "hashed" });
    const hash = await sha256Hex(key);
    const listed = await env.VIRTUAL_KEYS.list();
    const names = listed.keys.map((k) => k.name);
    expect(names).toContain(`vk:${hash}`);
    expect(names).toContain(`key:${id}`);
    for (const n of names) {
      expect(n).not.toContain(key);
      expect(await env.VIRTUAL_KEYS.get(n)).not.toContain(key);
    }
  });
});

describe("admin API: /admin/keys", () => {
  it("requires the admin bearer token", async () => {
    expect((await SELF.fetch(`${BASE}/admin/keys`)).status).toBe(401);
    const wrong = await SELF.fetch(`${BASE}/admin/keys`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: { status: "UNAUTHENTICATED" } });
  });

  it("creates a key (201, secret shown once), reads and lists it without the secret or hash", async () => {
    const r = await admin("/keys", { body: { name: "ci-bot", models: ["gemini-*"], rate_limit: { rpm: 60 } } });
    expect(r.status).toBe(201);
    const created = (await r.json()) as any;
    expect(created.key).toMatch(/^sk-bf-[A-Za-z0-9]{40}$/);
    expect(created).toMatchObject({ name: "ci-bot", active: true, models: ["gemini-*"], rate_limit: { rpm: 60 } });
    const hash = await sha256Hex(created.key);

    const one = await (await admin(`/keys/${created.id}`)).text();
    const list = await (await admin("/keys?limit=1000")).text();
    for (const text of [one, list]) {
      expect(text).not.toContain(created.key);
      expect(text).not.toContain(hash);
    }
    expect(JSON.parse(one)).toMatchObject({ id: created.id, name: "ci-bot", prefix: created.key.slice(0, 10) });
    expect(JSON.parse(list).keys.map((k: any) => k.id)).toContain(created.id);
  });

  it("patches limits, models and active, and the change applies to the next request", async () => {
    const { id, key } = await createKey({ name: "patchable" });
    expect((await genai("mock/echo", "generateContent", textRequest("x"), key)).status).toBe(200);
    const p = await admin(`/keys/${id}`, { method: "PATCH", body: { models: ["gemini-*"], rate_limit: { rpm: 5, tpm: 100 } } });
    expect(p.status).toBe(200);
    expect(await p.json()).toMatchObject({ id, models: ["gemini-*"], rate_limit: { rpm: 5, tpm: 100 } });
    expect((await genai("mock/echo", "generateContent", textRequest("x"), key)).status).toBe(403);
    await admin(`/keys/${id}`, { method: "PATCH", body: { models: [], active: false } });
    expect((await genai("mock/echo", "generateContent", textRequest("x"), key)).status).toBe(403);
    await admin(`/keys/${id}`, { method: "PATCH", body: { active: true } });
    // 100 tokens/min: the call must cap its output to fit (its worst case is reserved).
    const capped = textRequest("x", { generationConfig: { maxOutputTokens: 50 } });
    expect((await genai("mock/echo", "generateContent", capped, key)).status).toBe(200);
  });

  it("validation errors are 400 with the field named", async () => {
    for (const [body, field] of [
      [{}, /name/],
      [{ name: "" }, /name/],
      [{ name: "x", rate_limit: { rpm: -1 } }, /rate_limit\.rpm/],
      [{ name: "x", budget: { max_usd: 5, period: "1y" } }, /budget\.period/],
      [{ name: "x", expires_at: "tomorrow" }, /expires_at/],
      [{ name: "x", fallbacks: ["not a target"] }, /fallbacks\.0/],
    ] as const) {
      const r = await admin("/keys", { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      const e = (await r.json()) as any;
      expect(e.error.status).toBe("INVALID_ARGUMENT");
      expect(e.error.message).toMatch(field);
    }
    const bad = await SELF.fetch(`${BASE}/admin/keys`, { method: "POST", headers: { authorization: "Bearer test-admin-token-0123456789abcdef" }, body: "{" });
    expect(bad.status).toBe(400);
  });

  it("unknown key id: 404", async () => {
    expect((await admin("/keys/key_nope")).status).toBe(404);
    expect((await admin("/keys/key_nope", { method: "PATCH", body: { name: "x" } })).status).toBe(404);
    expect((await admin("/keys/key_nope", { method: "DELETE" })).status).toBe(404);
  });

  it("DELETE revokes: the record stays (with revoked_at) and the key stops working", async () => {
    const { id, key } = await createKey({ name: "to-revoke" });
    const d = await admin(`/keys/${id}`, { method: "DELETE" });
    expect(d.status).toBe(200);
    const rec = (await (await admin(`/keys/${id}`)).json()) as any;
    expect(rec.active).toBe(false);
    expect(rec.revoked_at).toMatch(/^\d{4}-/);
    expect((await genai("mock/echo", "generateContent", textRequest("x"), key)).status).toBe(403);
  });
});
