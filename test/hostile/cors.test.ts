/**
 * CORS, for browser apps calling the inference routes: off unless `CORS_ORIGINS` is set; then preflights on
 * `/genai/...` are answered for allowed origins with the headers the SDKs send, answers carry
 * `Access-Control-Allow-Origin` (+ `Vary: Origin`) and expose the `x-edgeway-*` headers. `/admin` never answers CORS.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { ADMIN, BASE, createKey, textRequest } from "../helpers/worker";

let key: string;
beforeAll(async () => {
  key = (await createKey({ name: "cors" })).key;
});

async function send(req: Request, CORS_ORIGINS?: string): Promise<Response> {
  const ctx = createExecutionContext();
  const e = { ...env } as Record<string, unknown>;
  if (CORS_ORIGINS === undefined) delete e.CORS_ORIGINS;
  else e.CORS_ORIGINS = CORS_ORIGINS;
  const res = await worker.fetch(req, e as typeof env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  return new Response(text, { status: res.status, headers: res.headers });
}

const APP = "https://app.example.com";
const preflight = (path: string, origin = APP, headers = "content-type,x-goog-api-key,x-goog-api-client") =>
  new Request(`${BASE}${path}`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": headers },
  });
const generate = (origin?: string, k = key) =>
  new Request(`${BASE}/genai/v1beta/models/mock/echo:generateContent`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": k, ...(origin ? { origin } : {}) },
    body: JSON.stringify(textRequest("hi")),
  });
const GEN_PATH = "/genai/v1beta/models/mock/echo:generateContent";

const headerList = (v: string | null) => (v ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);

describe("CORS off (no CORS_ORIGINS, or empty)", () => {
  it.each([undefined, "", " , "])("%j: a preflight is not answered and answers carry no CORS headers", async (value) => {
    const p = await send(preflight(GEN_PATH), value);
    expect(p.status).toBe(404);
    expect(await p.json()).toMatchObject({ error: { code: 404, status: "NOT_FOUND" } });
    expect(p.headers.get("access-control-allow-origin")).toBeNull();
    const r = await send(generate(APP), value);
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    expect(r.headers.get("access-control-expose-headers")).toBeNull();
  });
});

describe.each([
  ["a list", `https://other.test, ${APP}/`, APP],
  ["*", "*", "*"],
])("CORS_ORIGINS as %s", (_name, value, allowOrigin) => {
  it.each([GEN_PATH, "/genai/v1beta/models", "/genai/v1/models/gemini-2.0-flash:streamGenerateContent", "/genai/upload/v1beta/files"])(
    "answers a preflight on %s with 204 and the SDKs' headers, without calling anything",
    async (path) => {
      const p = await send(preflight(path), value);
      expect(p.status).toBe(204);
      expect(p.headers.get("access-control-allow-origin")).toBe(allowOrigin);
      if (allowOrigin !== "*") expect(headerList(p.headers.get("vary"))).toContain("origin");
      expect(headerList(p.headers.get("access-control-allow-methods"))).toEqual(expect.arrayContaining(["get", "post"]));
      const allowed = headerList(p.headers.get("access-control-allow-headers"));
      for (const h of ["x-goog-api-key", "authorization", "content-type", "x-goog-api-client", "x-bf-vk", "x-api-key", "x-edgeway-timeout-ms"]) {
        expect(allowed).toContain(h);
      }
      expect(Number(p.headers.get("access-control-max-age"))).toBeGreaterThan(0);
      expect(p.headers.get("access-control-allow-credentials")).toBeNull();
    },
  );

  it("an answer (and an error answer) carries the allowed origin and exposes the x-edgeway-* headers", async () => {
    const r = await send(generate(APP), value);
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBe(allowOrigin);
    if (allowOrigin !== "*") expect(headerList(r.headers.get("vary"))).toContain("origin");
    const exposed = headerList(r.headers.get("access-control-expose-headers"));
    for (const h of ["x-edgeway-request-id", "x-edgeway-provider", "x-edgeway-model", "x-edgeway-attempts", "retry-after"]) expect(exposed).toContain(h);
    // A browser app must be able to read why it was refused.
    const bad = await send(generate(APP, "sk-bf-notarealkeynotarealkeynotarealkey00"), value);
    expect(bad.status).toBe(401);
    expect(bad.headers.get("access-control-allow-origin")).toBe(allowOrigin);
  });

  it("a stream carries them too", async () => {
    const r = await send(new Request(`${BASE}/genai/v1beta/models/mock/echo:streamGenerateContent?alt=sse`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": key, origin: APP },
      body: JSON.stringify(textRequest("hi")),
    }), value);
    expect(r.headers.get("content-type")).toBe("text/event-stream");
    expect(r.headers.get("access-control-allow-origin")).toBe(allowOrigin);
    expect(headerList(r.headers.get("access-control-expose-headers"))).toContain("x-edgeway-request-id");
  });

  it("/admin never answers CORS: no preflight, no headers", async () => {
    const p = await send(preflight("/admin/keys", APP, "authorization,content-type"), value);
    expect(p.status).toBeGreaterThanOrEqual(400);
    expect(p.headers.get("access-control-allow-origin")).toBeNull();
    const r = await send(new Request(`${BASE}/admin/keys`, { headers: { ...ADMIN, origin: APP } }), value);
    expect(r.status).toBe(200);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("a request without Origin gets no CORS headers", async () => {
    const r = await send(generate(), value);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("origins not on the list", () => {
  const value = `${APP}, https://two.example.com`;
  it.each(["https://evil.example.com", "http://app.example.com", "https://app.example.com.evil.test", "null", "https://APP.example.com:443x"])(
    "%s: the preflight is refused (403, Gemini error) and answers carry no CORS headers",
    async (origin) => {
      const p = await send(preflight(GEN_PATH, origin), value);
      expect(p.status).toBe(403);
      expect(await p.json()).toMatchObject({ error: { code: 403, status: "PERMISSION_DENIED" } });
      expect(p.headers.get("access-control-allow-origin")).toBeNull();
      const r = await send(generate(origin), value);
      expect(r.headers.get("access-control-allow-origin")).toBeNull();
      // The answer still depends on Origin: caches must keep them apart.
      expect(headerList(r.headers.get("vary"))).toContain("origin");
    },
  );

  it("origins are compared as origins: case of scheme and host, default port", async () => {
    const p = await send(preflight(GEN_PATH, "https://two.example.com"), "HTTPS://Two.Example.com:443");
    expect(p.status).toBe(204);
    expect(p.headers.get("access-control-allow-origin")).toBe("https://two.example.com");
  });
});
