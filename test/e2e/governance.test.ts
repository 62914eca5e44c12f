/**
 * Governance in the bundled gateway over real sockets, with wrangler.toml's Governor Durable Object binding and
 * migration: concurrent clients against a key limit, the SDK's view of a 429, and revocation.
 */
import { ApiError, GoogleGenAI } from "@google/genai";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startGateway, type Gateway } from "./harness";

let gw: Gateway;

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(() => gw?.stop());

const ask = (key: string) =>
  fetch(`${gw.url}/genai/v1beta/models/mock/echo:generateContent`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
  });

it("30 concurrent clients against a key with 5 requests/min: exactly 5 are served", async () => {
  const { key } = await gw.createKey({ name: "burst", rate_limit: { rpm: 5 } });
  const res = await Promise.all(Array.from({ length: 30 }, () => ask(key)));
  const statuses = res.map((r) => r.status);
  expect(statuses.filter((s) => s === 200)).toHaveLength(5);
  expect(statuses.filter((s) => s === 429)).toHaveLength(25);
  const refused = res.find((r) => r.status === 429)!;
  expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
  await Promise.all(res.map((r) => r.text()));
});

it("the @google/genai SDK sees the 429 as an ApiError with the limit in its message", async () => {
  const { key } = await gw.createKey({ name: "sdk-bot", rate_limit: { rpm: 1 } });
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai` } });
  await ai.models.generateContent({ model: "mock/echo", contents: "hi" });
  const err = await ai.models.generateContent({ model: "mock/echo", contents: "hi" }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect((err as ApiError).status).toBe(429);
  // The SDK quotes the JSON error body in its message.
  expect((err as ApiError).message).toMatch(/rate limit: key \\?"sdk-bot\\?" 1 requests\/min/);
});

it("a revoked key is refused on its next request", async () => {
  const { key, id } = await gw.createKey();
  expect((await ask(key)).status).toBe(200);
  expect((await gw.admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(200);
  const r = await ask(key);
  expect(r.status).toBe(403);
  expect(await r.json()).toEqual({ error: { code: 403, message: "API key has been revoked", status: "PERMISSION_DENIED" } });
});
