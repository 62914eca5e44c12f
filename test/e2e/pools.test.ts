/**
 * Upstream key pools and direct keys, end to end: the bundled gateway with a pool of Gemini keys in PROVIDER_KEYS,
 * a loopback Gemini that answers per key (ok, 429, 401), and the @google/genai SDK as the caller.
 */
import { ApiError, GoogleGenAI } from "@google/genai";
import type http from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { mockUpstream, startGateway, type Gateway, type MockUpstream } from "./harness";

const KEYS = {
  A: "AIza-e2e-pool-key-aaaaaaaaaaaa", B: "AIza-e2e-pool-key-bbbbbbbbbbbb", T: "AIza-e2e-pool-key-throttled1",
  U: "AIza-e2e-pool-key-unauthorized", R: "AIza-e2e-pool-key-revoked0001",
};
const OWN = "AIzaSy-callers-own-key-0123456789";
const label = (k: string | string[] | undefined) => Object.entries(KEYS).find(([, v]) => v === k)?.[0] ?? (k === OWN ? "own" : String(k));

let gemini: MockUpstream;
let gw: Gateway;
let plain: Gateway;
let ai: GoogleGenAI;
let seen: string[] = [];

const answer = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
};

beforeAll(async () => {
  gemini = await mockUpstream((req, res) => {
    const k = req.headers["x-goog-api-key"] as string;
    seen.push(label(k));
    if (k === KEYS.T) return answer(res, 429, { error: { code: 429, message: "Resource has been exhausted (e.g. check quota).", status: "RESOURCE_EXHAUSTED" } }, { "retry-after": "120" });
    if (k === KEYS.U) return answer(res, 401, { error: { code: 401, message: `Request had invalid authentication credentials (${k}).`, status: "UNAUTHENTICATED" } });
    // What Google answers for a deleted or invalid API key: a 400 whose reason is API_KEY_INVALID.
    if (k === KEYS.R) {
      return answer(res, 400, { error: { code: 400, message: `API key not valid. Please pass a valid API key. (${k})`, status: "INVALID_ARGUMENT", details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com" }] } });
    }
    if (JSON.parse(req.body).contents[0].parts[0].text === "bad request") return answer(res, 400, { error: { code: 400, message: "Invalid JSON payload", status: "INVALID_ARGUMENT" } });
    if (k === "AIzaSy-wrong-own-key-0000000000") return answer(res, 403, { error: { code: 403, message: `Permission denied for ${k}`, status: "PERMISSION_DENIED" } });
    answer(res, 200, { candidates: [{ content: { role: "model", parts: [{ text: `served by ${label(k)}` }] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 2, candidatesTokenCount: 3, totalTokenCount: 5 } });
  });
  gw = await startGateway({
    GEMINI_BASE_URL: gemini.url,
    KEY_A: KEYS.A, KEY_B: KEYS.B, KEY_T: KEYS.T, KEY_U: KEYS.U, KEY_R: KEYS.R,
    PROVIDER_KEYS: JSON.stringify({
      gemini: [
        { label: "a", secret: "KEY_A", weight: 3, models: ["gemini-2.0-*"] },
        { label: "b", secret: "KEY_B", weight: 1, models: ["gemini-2.0-*"] },
        { label: "throttled", secret: "KEY_T", weight: 1000, models: ["gemini-2.5-flash"] },
        { label: "unauthorized", secret: "KEY_U", weight: 1000, models: ["gemini-2.5-flash-lite"] },
        { label: "revoked", secret: "KEY_R", weight: 1000, models: ["gemini-2.5-pro"] },
        { label: "spare", secret: "KEY_B", weight: 1, models: ["gemini-2.5-*"] },
      ],
    }),
    DIRECT_KEYS: "on",
  });
  plain = await startGateway({ GEMINI_BASE_URL: gemini.url, GEMINI_API_KEY: KEYS.A });
  const { key } = await gw.createKey({ name: "pools-e2e" });
  ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai` } });
});
beforeEach(() => {
  seen = [];
});
afterAll(async () => {
  await Promise.all([gw?.stop(), plain?.stop()]);
  await gemini?.close();
});

async function logs(g: Gateway, n: number) {
  // Rows are written after the response, through the usage buffer: flush it, and poll briefly (bounded).
  for (let i = 0; i < 100; i++) {
    await g.flushUsage();
    const r = (await (await g.admin(`/logs?limit=${n}`)).json()) as { logs: Record<string, any>[] };
    if (r.logs.length >= n) return r.logs;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error("usage rows not written");
}

describe("a pool of upstream keys", () => {
  it("spreads calls by weight among the keys that serve the model (3 : 1 over 200 calls)", async () => {
    for (let i = 0; i < 200; i++) await ai.models.generateContent({ model: "gemini-2.0-flash", contents: "hi" });
    const a = seen.filter((s) => s === "A").length;
    expect(seen.filter((s) => s !== "A" && s !== "B")).toEqual([]);
    // Expected 150; the bound is over seven standard deviations wide, so this never fails by chance.
    expect(a).toBeGreaterThan(105);
    expect(a).toBeLessThan(190);
  });

  it("after a 429 the key cools down: the same call is served by another key, and later calls skip it", async () => {
    const r = await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });
    expect(r.text).toBe("served by B");
    expect(seen).toEqual(["T", "B"]);
    const [row] = await logs(gw, 1);
    expect(row!.attempts.map((x: any) => [x.credential, x.status])).toEqual([["throttled", 429], ["spare", 200]]);
    seen = [];
    for (let i = 0; i < 5; i++) await ai.models.generateContent({ model: "gemini-2.5-flash", contents: "hi" });
    expect(seen).toEqual(Array(5).fill("B"));
  });

  it("after a 401 the key cools down longer: another key serves the same call, and later calls skip it", async () => {
    const r = await ai.models.generateContent({ model: "gemini-2.5-flash-lite", contents: "hi" });
    expect(r.text).toBe("served by B");
    expect(seen).toEqual(["U", "B"]);
    const [row] = await logs(gw, 1);
    expect(row!.attempts.map((x: any) => [x.credential, x.status, x.reason])).toEqual([["unauthorized", 502, "upstream 401"], ["spare", 200, "ok"]]);
    seen = [];
    for (let i = 0; i < 3; i++) await ai.models.generateContent({ model: "gemini-2.5-flash-lite", contents: "hi" });
    expect(seen).toEqual(Array(3).fill("B"));
  });

  it("Gemini's 400 API_KEY_INVALID is the key's fault too; any other 400 is the request's, answered at once", async () => {
    const r = await ai.models.generateContent({ model: "gemini-2.5-pro", contents: "hi" });
    expect(r.text).toBe("served by B");
    expect(seen).toEqual(["R", "B"]);
    seen = [];
    const bad = await ai.models.generateContent({ model: "gemini-2.0-flash", contents: "bad request" }).catch((e) => e);
    expect((bad as ApiError).status).toBe(400);
    expect(seen).toHaveLength(1);
  });

  it("no secret of the pool ever reaches the caller or the usage log", async () => {
    const all = JSON.stringify(await logs(gw, 50));
    for (const k of Object.values(KEYS)) expect(all).not.toContain(k);
  });
});

describe("direct keys", () => {
  it("DIRECT_KEYS=on: the caller's own Gemini key goes upstream for that call, attributed to direct:<hash>", async () => {
    const own = new GoogleGenAI({ apiKey: OWN, httpOptions: { baseUrl: `${gw.url}/genai` } });
    const r = await own.models.generateContent({ model: "gemini-2.0-flash", contents: "hi" });
    expect(r.text).toBe("served by own");
    expect(seen).toEqual(["own"]);
    const [row] = await logs(gw, 1);
    const hash = Buffer.from(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(OWN))).toString("hex").slice(0, 8);
    expect(row).toMatchObject({ key_id: `direct:${hash}`, team_id: null });
    expect(JSON.stringify(row)).not.toContain(OWN);
  });

  it("a caller's key the upstream refuses is the caller's 403, tried nowhere else", async () => {
    const wrong = new GoogleGenAI({ apiKey: "AIzaSy-wrong-own-key-0000000000", httpOptions: { baseUrl: `${gw.url}/genai` } });
    const e = await wrong.models.generateContent({ model: "gemini-2.0-flash", contents: "hi", config: { httpOptions: {} } }).catch((x) => x);
    expect((e as ApiError).status).toBe(403);
    expect((e as ApiError).message).not.toContain("AIzaSy-wrong-own-key");
    expect(seen).toEqual(["AIzaSy-wrong-own-key-0000000000"].map(label));
  });

  it("off by default: the same key is refused as not a virtual key, and nothing goes upstream", async () => {
    const own = new GoogleGenAI({ apiKey: OWN, httpOptions: { baseUrl: `${plain.url}/genai` } });
    const e = await own.models.generateContent({ model: "gemini-2.0-flash", contents: "hi" }).catch((x) => x);
    expect((e as ApiError).status).toBe(401);
    expect(seen).toEqual([]);
  });
});
