/**
 * Credential pools and direct keys through the attempt loop in workerd: weights, a throttled or refused credential
 * cooled down and another one tried in the same call, labels (never secrets) in rows and error details, and a
 * caller's own provider key used for that call alone.
 */
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { resetCredentialHealth } from "../../src/providers/credentials/pool";
import { waits } from "../../src/lib/sleep";
import { createKey, genaiSettled, mockUpstream, ownResource, textRequest, usageRow } from "../helpers/worker";

const KEYS = { GEM_A: "AIza-pool-key-aaaaaaaaaaaa", GEM_B: "AIza-pool-key-bbbbbbbbbbbb", GEM_C: "AIza-pool-key-cccccccccccc" };
const pool = (entries: object[], extra: Record<string, string> = {}) => ({ ...KEYS, PROVIDER_KEYS: JSON.stringify({ gemini: entries }), ...extra });
const ok = () => Response.json({ candidates: [{ content: { role: "model", parts: [{ text: "ok" }] }, finishReason: "STOP" }] });
const fail = (code: number, headers: Record<string, string> = {}, message = `status ${code}`) =>
  Response.json({ error: { code, message, status: "X" } }, { status: code, headers });
/** Google's refusal of the key itself: ErrorInfo reason API_KEY_INVALID (as a 403 here, to show the reason decides). */
const refusedKey = (message: string, code = 403) =>
  Response.json({ error: { code, message, status: code === 400 ? "INVALID_ARGUMENT" : "PERMISSION_DENIED", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }] } }, { status: code });
const labelOf = (apiKey: string | null) => Object.entries(KEYS).find(([, v]) => v === apiKey)?.[0];

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "pools" })).key;
});
beforeEach(() => resetCredentialHealth());
afterEach(() => vi.restoreAllMocks());

async function attemptsOf(r: Response) {
  const row = await usageRow(r.headers.get("x-edgeway-request-id"));
  return JSON.parse(row!.attempts_json as string).map((a: Record<string, unknown>) => [a.credential, a.status, a.reason]);
}

describe("credential pools", () => {
  it("spreads calls by weight among the credentials that serve the model", async () => {
    const calls = mockUpstream(() => ok());
    let i = 0;
    // Evenly spread draws make the split exact: 3 : 1 over 40 calls.
    vi.spyOn(Math, "random").mockImplementation(() => ((i++ % 40) + 0.5) / 40);
    const vars = pool([{ label: "a", secret: "GEM_A", weight: 3 }, { label: "b", secret: "GEM_B" }, { label: "c", secret: "GEM_C", models: ["gemini-2.5-pro"] }]);
    for (let n = 0; n < 40; n++) await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    const counts: Record<string, number> = {};
    for (const c of calls) counts[labelOf(c.headers.get("x-goog-api-key"))!] = (counts[labelOf(c.headers.get("x-goog-api-key"))!] ?? 0) + 1;
    expect(counts).toEqual({ GEM_A: 30, GEM_B: 10 });
  });

  it("a 429 cools the credential for its Retry-After and the same call goes on with another at once", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5); // the heavy credential first, every run
    const sleep = vi.spyOn(waits, "sleep");
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_A ? fail(429, { "retry-after": "30" }) : ok()));
    const vars = pool([{ label: "a", secret: "GEM_A", weight: 1000 }, { label: "b", secret: "GEM_B" }]);
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-attempts")).toBe("2");
    expect(await attemptsOf(r)).toEqual([["a", 429, "upstream 429"], ["b", 200, "ok"]]);
    expect(sleep).not.toHaveBeenCalled();
    // For the next 30 s, `a` is passed over despite its weight.
    calls.length = 0;
    for (let n = 0; n < 5; n++) await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(calls.map((c) => labelOf(c.headers.get("x-goog-api-key")))).toEqual(Array(5).fill("GEM_B"));
  });

  it("a 401 cools the credential longer; the call is served by another, not by the fallback", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5); // the heavy credential first, every run
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_B ? fail(401, {}, `API key ${KEYS.GEM_B} not valid`) : ok()));
    const vars = pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B", weight: 1000 }]);
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, { env: vars });
    expect(r.headers.get("x-edgeway-provider")).toBe("gemini");
    expect(await attemptsOf(r)).toEqual([["b", 502, "upstream 401"], ["a", 200, "ok"]]);
    calls.length = 0;
    await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(calls.map((c) => labelOf(c.headers.get("x-goog-api-key")))).toEqual(["GEM_A"]);
  });

  it("when every credential fails, the details name each label and the error shows no secret of the pool", async () => {
    mockUpstream((c) => refusedKey(`key ${c.headers.get("x-goog-api-key")} not valid (also tried ${KEYS.GEM_A})`));
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }]) });
    expect(r.status).toBe(502);
    const text = await r.text();
    for (const secret of Object.values(KEYS)) expect(text).not.toContain(secret);
    const { error } = JSON.parse(text);
    expect(error.details.map((d: Record<string, unknown>) => d.credential).sort()).toEqual(["a", "b"]);
    expect(error.message).toBe("gemini: key [redacted] not valid (also tried [redacted]) (upstream HTTP 403: the gateway's provider credentials were refused)");
  });

  it("a 403 the request caused (a model the project may not use) benches nothing: the credential serves the next call", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0); // the weighted choice: always `a`
    const calls = mockUpstream((c) =>
      c.url.includes("gemini-2.5-pro")
        ? Response.json({ error: { code: 403, message: "You do not have permission to access tuned model gemini-2.5-pro.", status: "PERMISSION_DENIED" } }, { status: 403 })
        : ok(),
    );
    const vars = pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }]);
    for (let n = 0; n < 3; n++) {
      const r = await genaiSettled("gemini-2.5-pro", "generateContent", textRequest("x"), key, { env: vars });
      expect(r.status).toBe(502);
      expect(((await r.clone().json()) as { error: { message: string } }).error.message).toContain("(upstream HTTP 403: refused for this request)");
      // Not tried on every credential of the pool either: one hostile call is one upstream request.
      expect(await attemptsOf(r)).toEqual([["a", 502, "upstream 403"]]);
    }
    calls.length = 0;
    for (let n = 0; n < 3; n++) expect((await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars })).status).toBe(200);
    expect(calls.map((c) => labelOf(c.headers.get("x-goog-api-key")))).toEqual(["GEM_A", "GEM_A", "GEM_A"]);
  });

  it("a 429 at one model benches the credential for that model only: it serves another model at once", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_A && c.url.includes("gemini-2.0-flash") ? fail(429, { "retry-after": "30" }) : ok()));
    const vars = pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }]);
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(await attemptsOf(r)).toEqual([["a", 429, "upstream 429"], ["b", 200, "ok"]]);
    calls.length = 0;
    for (let n = 0; n < 3; n++) await genaiSettled("gemini-2.5-pro", "generateContent", textRequest("x"), key, { env: vars });
    await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(calls.map((c) => [labelOf(c.headers.get("x-goog-api-key")), c.url.includes("flash") ? "flash" : "pro"])).toEqual([
      ["GEM_A", "pro"], ["GEM_A", "pro"], ["GEM_A", "pro"], ["GEM_B", "flash"],
    ]);
  });

  it("a refusal of the key itself (API_KEY_INVALID) benches it for every model", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_A ? refusedKey("API key not valid. Please pass a valid API key.", 400) : ok()));
    const vars = pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }]);
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(await attemptsOf(r)).toEqual([["a", 502, "upstream 400"], ["b", 200, "ok"]]);
    calls.length = 0;
    await genaiSettled("gemini-2.5-pro", "generateContent", textRequest("x"), key, { env: vars });
    expect(calls.map((c) => labelOf(c.headers.get("x-goog-api-key")))).toEqual(["GEM_B"]);
  });

  it("hostile: a 400 echoing the refusal's words (a field named API_KEY_INVALID) is the caller's 400 and benches nothing", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const calls = mockUpstream((c) =>
      c.body.includes("API_KEY_INVALID")
        ? Response.json({ error: { code: 400, message: 'Invalid JSON payload received. Unknown name "API key not valid" at \'contents[0]\': Cannot find field. "API_KEY_INVALID"', status: "INVALID_ARGUMENT" } }, { status: 400 })
        : ok(),
    );
    const vars = pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }]);
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", { contents: [{ role: "user", parts: [{ text: "x" }] }], API_KEY_INVALID: "API key not valid" }, key, { env: vars });
    expect(r.status).toBe(400);
    calls.length = 0;
    await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(calls.map((c) => labelOf(c.headers.get("x-goog-api-key")))).toEqual(["GEM_A"]);
  });

  it("a 5xx is retried as the policy says, preferring a credential the call has not tried", async () => {
    // The first pick is by weight; a fixed draw makes it the heavy one every run (1000 : 1 still lost a CI run).
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_A ? fail(503) : ok()));
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, {
      env: pool([{ label: "a", secret: "GEM_A", weight: 1000 }, { label: "b", secret: "GEM_B" }], { EDGEWAY_RETRIES: "1" }),
    });
    expect(r.status).toBe(200);
    expect(calls.map((c) => labelOf(c.headers.get("x-goog-api-key")))).toEqual(["GEM_A", "GEM_B"]);
  });

  it("a model no credential serves is unavailable (503), so the fallback serves", async () => {
    const calls = mockUpstream(() => ok());
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, {
      env: pool([{ label: "pro-only", secret: "GEM_A", models: ["gemini-2.5-pro*"] }]),
    });
    expect(calls).toHaveLength(0);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(await attemptsOf(r)).toEqual([[undefined, 503, "no credential for model"], [undefined, 200, "ok"]]);
  });
});

describe("calls that use files or caches", () => {
  // A file or cache lives in the project of the key that made it: the resource routes make them with GEMINI_API_KEY.
  const FILE = "https://generativelanguage.googleapis.com/v1beta/files/pinned1";
  const withFile = (extra: object = {}) => ({
    contents: [{ role: "user", parts: [{ text: "x" }, { fileData: { fileUri: FILE, mimeType: "text/plain" } }] }], ...extra,
  });
  let owner: { key: string; id: string };
  beforeAll(async () => {
    owner = await createKey({ name: "pinned" });
    await ownResource(owner.id, "file", "files/pinned1");
    await ownResource(owner.id, "cachedContent", "cachedContents/pinned1");
  });
  const keysUsed = (calls: { headers: Headers }[]) => calls.map((c) => labelOf(c.headers.get("x-goog-api-key")) ?? c.headers.get("x-goog-api-key"));

  it("go with the pool's credential for GEMINI_API_KEY whatever the weights; other calls are spread as before", async () => {
    const calls = mockUpstream(() => ok());
    const vars = pool([{ label: "a", secret: "GEM_A", weight: 1 }, { label: "b", secret: "GEM_B", weight: 1000 }], { GEMINI_API_KEY: KEYS.GEM_A });
    for (let n = 0; n < 4; n++) {
      const r = await genaiSettled("gemini-2.0-flash", "generateContent", withFile(), owner.key, { env: vars });
      expect(await attemptsOf(r)).toEqual([["a", 200, "ok"]]);
    }
    await genaiSettled("gemini-2.0-flash", "generateContent", { ...textRequest("x"), cachedContent: "cachedContents/pinned1" }, owner.key, { env: vars });
    expect(keysUsed(calls)).toEqual(Array(5).fill("GEM_A"));
    calls.length = 0;
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    for (let n = 0; n < 3; n++) await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), owner.key, { env: vars });
    expect(keysUsed(calls)).toEqual(Array(3).fill("GEM_B"));
  });

  it("GEMINI_API_KEY outside the pool is used under the label `resources`, and redacted like the pool's keys", async () => {
    const RES = "AIza-resources-only-key-zzzzzzzz";
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === RES ? fail(400, {}, `request for key ${RES} is bad`) : ok()));
    const vars = pool([{ label: "a", secret: "GEM_A" }, { label: "b", secret: "GEM_B" }], { GEMINI_API_KEY: RES });
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", withFile(), owner.key, { env: vars });
    expect(keysUsed(calls)).toEqual([RES]);
    expect(r.status).toBe(400);
    const text = await r.text();
    expect(text).not.toContain(RES);
    expect(JSON.parse(text).error.message).toContain("request for key [redacted] is bad");
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(JSON.stringify(row)).not.toContain(RES);
    expect(JSON.parse(row!.attempts_json as string).map((a: Record<string, unknown>) => a.credential)).toEqual(["resources"]);
  });

  it("a throttled or refused holder is retried or fails; the call never moves to another key of the pool", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const calls = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_A ? fail(429) : ok()));
    const vars = pool([{ label: "a", secret: "GEM_A", weight: 1000 }, { label: "b", secret: "GEM_B" }], { GEMINI_API_KEY: KEYS.GEM_A, EDGEWAY_RETRIES: "1" });
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", withFile(), owner.key, { env: vars });
    expect(r.status).toBe(429);
    expect(keysUsed(calls)).toEqual(["GEM_A", "GEM_A"]);
    const again = mockUpstream((c) => (c.headers.get("x-goog-api-key") === KEYS.GEM_A ? fail(403, {}, "refused") : ok()));
    const refused = await genaiSettled("gemini-2.0-flash", "generateContent", withFile(), owner.key, { env: vars });
    expect(refused.status).toBe(502);
    expect(keysUsed(again)).toEqual(["GEM_A"]);
  });

  it("a holder whose `models` exclude the model: 503 for that target, and the fallback serves", async () => {
    const calls = mockUpstream(() => ok());
    const vars = pool([{ label: "a", secret: "GEM_A", models: ["gemini-2.5-pro*"] }, { label: "b", secret: "GEM_B" }], { GEMINI_API_KEY: KEYS.GEM_A });
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", withFile({ fallbacks: ["mock/echo"] }), owner.key, { env: vars });
    expect(calls).toHaveLength(0);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(await attemptsOf(r)).toEqual([[undefined, 503, "no credential for model"], [undefined, 200, "ok"]]);
  });
});

describe("direct keys", () => {
  const OWN = "AIzaSyOwnKeyOfTheCaller-0123456789";
  const sha8 = async (s: string) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)))].slice(0, 4).map((b) => b.toString(16).padStart(2, "0")).join("");

  it("off by default: a credential that is not a virtual key is refused", async () => {
    const calls = mockUpstream(() => ok());
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), OWN);
    expect(r.status).toBe(401);
    expect(calls).toHaveLength(0);
  });

  it("DIRECT_KEYS=on: the caller's key goes upstream for that call; the row is direct:<sha256 prefix>", async () => {
    const calls = mockUpstream(() => ok());
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), OWN, { env: { DIRECT_KEYS: "on" } });
    expect(r.status).toBe(200);
    expect(calls[0]!.headers.get("x-goog-api-key")).toBe(OWN);
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ key_id: `direct:${await sha8(OWN)}`, team_id: null, outcome: "ok" });
    expect(JSON.stringify(row)).not.toContain(OWN);
    expect(JSON.parse(row!.attempts_json as string)[0].credential).toBe("direct");
    // A virtual key still works as before next to it.
    const v = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), key, { env: { DIRECT_KEYS: "on" } });
    expect(v.status).toBe(200);
    expect(calls[1]!.headers.get("x-goog-api-key")).toBe("test-gemini-key");
  });

  it("DIRECT_KEYS=on: a direct caller names its own files and caches (its project's, not the gateway's to scope); a virtual key may not", async () => {
    const calls = mockUpstream(() => ok());
    const body = {
      contents: [{ role: "user", parts: [{ fileData: { fileUri: "https://generativelanguage.googleapis.com/v1beta/files/own123", mimeType: "text/plain" } }, { text: "?" }] }],
      cachedContent: "cachedContents/own456",
    };
    const r = await genaiSettled("gemini-2.0-flash", "generateContent", body, OWN, { env: { DIRECT_KEYS: "on" } });
    expect(r.status).toBe(200);
    expect(JSON.parse(calls[0]!.body)).toMatchObject(body);
    const v = await genaiSettled("gemini-2.0-flash", "generateContent", body, key, { env: { DIRECT_KEYS: "on" } });
    expect(v.status).toBe(404);
    expect(calls).toHaveLength(1);
  });

  it("openai-style providers get it as a bearer token; a refused key is the caller's 401, redacted, never a fallback", async () => {
    const calls = mockUpstream((c) => Response.json({ error: { message: `Incorrect API key provided: ${c.headers.get("authorization")?.slice(7)}` } }, { status: 401 }));
    const r = await genaiSettled("openai/gpt-4o-mini", "generateContent", textRequest("x", { fallbacks: ["anthropic/claude-haiku-4-5"] }), "sk-proj-callers-own-openai-key", {
      env: { DIRECT_KEYS: "on" }, headers: { "x-goog-api-key": "", authorization: "Bearer sk-proj-callers-own-openai-key" },
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.headers.get("authorization")).toBe("Bearer sk-proj-callers-own-openai-key");
    expect(r.status).toBe(401);
    const text = await r.text();
    expect(text).not.toContain("sk-proj-callers-own-openai-key");
    expect(JSON.parse(text).error.message).toBe("openai: Incorrect API key provided: [redacted] (your provider key was refused)");
  });

  describe("a key goes only to the provider it is for", () => {
    const OPENAI_OWN = "sk-proj-callers-own-openai-key-0123";
    const chat = () => Response.json({ id: "c", object: "chat.completion", model: "gpt-4o-mini", choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }] });
    const byHost = (gemini: () => Response) => mockUpstream((c) => (new URL(c.url).hostname === "gemini.upstream.test" ? gemini() : chat()));
    const seenBy = (calls: { url: string; headers: Headers; body: string }[], host: string) =>
      calls.filter((c) => new URL(c.url).hostname === host).map((c) => `${c.url} ${JSON.stringify([...c.headers])} ${c.body}`).join("\n");
    const direct = (model: string, body: unknown, headers: Record<string, string> = {}) =>
      genaiSettled(model, "generateContent", body, OWN, { env: { DIRECT_KEYS: "on" }, headers });

    it("a Google key is never sent to OpenAI: the fallback is skipped, listed in the attempts, the row and the error", async () => {
      const calls = byHost(() => fail(503));
      const r = await direct("gemini-2.0-flash", textRequest("x", { fallbacks: ["openai/gpt-4o-mini"] }));
      expect(r.status).toBe(503);
      expect(calls.map((c) => new URL(c.url).hostname)).toEqual(["gemini.upstream.test"]);
      expect(seenBy(calls, "openai.upstream.test")).toBe("");
      expect(r.headers.get("x-edgeway-attempts")).toBe("1");
      const skipped = { target: "openai/gpt-4o-mini", status: 403, reason: "direct key for gemini", skipped: true };
      const body = (await r.json()) as any;
      expect(body.error.details[1]).toMatchObject(skipped);
      const row = await usageRow(r.headers.get("x-edgeway-request-id"));
      expect(JSON.parse(row!.attempts_json as string)[1]).toMatchObject(skipped);
      expect(JSON.stringify(row) + JSON.stringify(body)).not.toContain(OWN);
    });

    it("a fallback at the same provider still gets the key; every other provider in the chain is skipped", async () => {
      const calls = byHost(() => fail(503));
      const r = await direct("gemini-2.0-flash", textRequest("x", { fallbacks: ["gemini-2.5-flash", "anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"] }));
      expect(calls.map((c) => [new URL(c.url).hostname, c.headers.get("x-goog-api-key")])).toEqual([["gemini.upstream.test", OWN], ["gemini.upstream.test", OWN]]);
      expect(((await r.json()) as any).error.details.map((a: any) => a.reason)).toEqual(["upstream 503", "upstream 503", "direct key for gemini", "direct key for gemini"]);
    });

    it("a key given for OpenAI (x-edgeway-direct-key-openai) goes to OpenAI alone, and the Google key stays with Google", async () => {
      const calls = byHost(() => fail(503));
      const r = await direct("gemini-2.0-flash", textRequest("x", { fallbacks: ["anthropic/claude-haiku-4-5", "openai/gpt-4o-mini"] }), { "x-edgeway-direct-key-openai": OPENAI_OWN });
      expect(r.status).toBe(200);
      expect(r.headers.get("x-edgeway-provider")).toBe("openai");
      const openai = calls.filter((c) => new URL(c.url).hostname === "openai.upstream.test");
      expect(openai).toHaveLength(1);
      expect(openai[0]!.headers.get("authorization")).toBe(`Bearer ${OPENAI_OWN}`);
      expect(seenBy(calls, "openai.upstream.test")).not.toContain(OWN);
      expect(seenBy(calls, "openai.upstream.test")).not.toContain("test-openai-key");
      expect(seenBy(calls, "gemini.upstream.test")).not.toContain(OPENAI_OWN);
      const row = await usageRow(r.headers.get("x-edgeway-request-id"));
      expect(JSON.parse(row!.attempts_json as string).map((a: any) => [a.target, a.reason, a.credential])).toEqual([
        ["gemini/gemini-2.0-flash", "upstream 503", "direct"], ["anthropic/claude-haiku-4-5", "direct key for gemini", undefined], ["openai/gpt-4o-mini", "ok", "direct"],
      ]);
      expect(JSON.stringify(row)).not.toContain(OPENAI_OWN);
    });

    it("hostile: a second key for the call's own provider, a bad provider name or a malformed key are refused before any upstream; a virtual key's such header is never used", async () => {
      const calls = byHost(() => fail(503));
      const twice = await direct("gemini-2.0-flash", textRequest("x"), { "x-edgeway-direct-key-gemini": "AIzaSyAnotherKeyOfTheCaller-987654" });
      expect(twice.status).toBe(400);
      const badName = await direct("gemini-2.0-flash", textRequest("x"), { "x-edgeway-direct-key-Open.AI": OPENAI_OWN });
      expect(badName.status).toBe(400);
      const badKey = await direct("gemini-2.0-flash", textRequest("x"), { "x-edgeway-direct-key-openai": "has space" });
      expect(badKey.status).toBe(401);
      expect(calls).toHaveLength(0);
      // A virtual-key call with such a header: the gateway's own OpenAI key goes, never the header's.
      const v = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x", { fallbacks: ["openai/gpt-4o-mini"] }), key, {
        env: { DIRECT_KEYS: "on" }, headers: { "x-edgeway-direct-key-openai": OPENAI_OWN },
      });
      expect(v.status).toBe(200);
      expect(calls.find((c) => new URL(c.url).hostname === "openai.upstream.test")!.headers.get("authorization")).toBe("Bearer test-openai-key");
      expect(seenBy(calls, "openai.upstream.test") + seenBy(calls, "gemini.upstream.test")).not.toContain(OPENAI_OWN);
    });

    it("an OpenAI key presented for an OpenAI model never goes to a Gemini fallback either", async () => {
      const calls = mockUpstream((c) => (new URL(c.url).hostname === "openai.upstream.test" ? Response.json({ error: { message: "busy" } }, { status: 503 }) : ok()));
      const r = await genaiSettled("openai/gpt-4o-mini", "generateContent", textRequest("x", { fallbacks: ["gemini-2.0-flash"] }), OPENAI_OWN, {
        env: { DIRECT_KEYS: "on" }, headers: { "x-goog-api-key": "", authorization: `Bearer ${OPENAI_OWN}` },
      });
      expect(r.status).toBe(503);
      expect(seenBy(calls, "gemini.upstream.test")).toBe("");
      expect(((await r.json()) as any).error.details[1]).toMatchObject({ target: "gemini/gemini-2.0-flash", reason: "direct key for openai", skipped: true });
    });
  });

  it("never reaches the operator's keyless hosts or bindings, nor the gateway's own credentials", async () => {
    const calls = mockUpstream(() => ok());
    const r = await genaiSettled("ollama/llama3", "generateContent", textRequest("x"), OWN, { env: { DIRECT_KEYS: "on" } });
    expect(r.status).toBe(403);
    expect(((await r.json()) as any).error.message).toBe('provider "ollama" does not take a caller\'s own key; use a virtual key');
    expect(calls).toHaveLength(0);
    // A malformed virtual key is still a virtual key (401), not a direct key.
    const m = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), "sk-bf-short", { env: { DIRECT_KEYS: "on" } });
    expect(m.status).toBe(401);
    const w = await genaiSettled("gemini-2.0-flash", "generateContent", textRequest("x"), "has space inside", { env: { DIRECT_KEYS: "on" } });
    expect(w.status).toBe(401);
    expect(calls).toHaveLength(0);
  });
});
