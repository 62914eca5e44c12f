/**
 * The bundled gateway exactly as wrangler.toml configures it (no test vars): what is off by default stays off (the
 * mock provider, CORS).
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { startGateway, type Gateway } from "./harness";

let gw: Gateway;
let key: string;
beforeAll(async () => {
  gw = await startGateway({ MOCK_PROVIDER: undefined });
  key = (await gw.createKey({ name: "defaults" })).key;
});
afterAll(async () => {
  await gw?.stop();
});

describe("wrangler.toml defaults", () => {
  it("wrangler.toml does not turn the mock provider on", () => {
    const { workerOptions } = unstable_getMiniflareWorkerOptions(path.resolve(import.meta.dirname, "../../wrangler.toml"));
    expect(workerOptions.bindings ?? {}).not.toHaveProperty("MOCK_PROVIDER");
  });

  it("mock/echo is an unknown provider and is not listed", async () => {
    const r = await fetch(`${gw.url}/genai/v1beta/models/mock/echo:predict`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": key },
      body: JSON.stringify({ instances: [{ prompt: "x" }], parameters: { sampleCount: 1e6 } }),
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ error: { code: 400, status: "INVALID_ARGUMENT", message: 'unknown provider "mock"' } });
    const list = (await (await fetch(`${gw.url}/genai/v1beta/models`, { headers: { "x-goog-api-key": key } })).json()) as { models: { name: string }[] };
    expect(list.models.map((m) => m.name)).not.toContain("models/mock/echo");
  });

  it("CORS is off: a preflight is a 404 with no CORS headers, and answers carry none", async () => {
    const p = await fetch(`${gw.url}/genai/v1beta/models/gemini-2.0-flash:generateContent`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example.com", "access-control-request-method": "POST", "access-control-request-headers": "x-goog-api-key" },
    });
    expect(p.status).toBe(404);
    expect(p.headers.get("access-control-allow-origin")).toBeNull();
    const r = await fetch(`${gw.url}/genai/v1beta/models`, { headers: { "x-goog-api-key": key, origin: "https://app.example.com" } });
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });
});
