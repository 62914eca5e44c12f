/**
 * The bundled gateway exactly as wrangler.toml configures it (no test vars): what is off by default stays off (the
 * mock provider, CORS).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { shippedWorkerOptions, startGateway, type Gateway } from "./harness";

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
    expect(shippedWorkerOptions().bindings).not.toHaveProperty("MOCK_PROVIDER");
  });

  // `npm start` writes .dev.vars (ADMIN_TOKEN, MOCK_PROVIDER="on") next to wrangler.toml; docs/tests.md runs
  // `npm test` after it in the same clone, so the tests must read the shipped config without it.
  it("a .dev.vars next to wrangler.toml (as `npm start` writes) is not part of the config the tests run", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "edgeway-devvars-"));
    try {
      copyFileSync(path.resolve(import.meta.dirname, "../../wrangler.toml"), path.join(dir, "wrangler.toml"));
      mkdirSync(path.join(dir, "public"));
      writeFileSync(path.join(dir, ".dev.vars"), 'ADMIN_TOKEN="adm-local"\nMOCK_PROVIDER="on"\n');
      // What wrangler itself makes of that clone: the local vars are there...
      expect(unstable_getMiniflareWorkerOptions(path.join(dir, "wrangler.toml")).workerOptions.bindings).toHaveProperty("MOCK_PROVIDER", "on");
      // ...and what the tests' gateway is given leaves them out.
      const bindings = shippedWorkerOptions(path.join(dir, "wrangler.toml")).bindings;
      expect(bindings).not.toHaveProperty("MOCK_PROVIDER");
      expect(bindings).not.toHaveProperty("ADMIN_TOKEN");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
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
