/**
 * Resource routes under a key's rate limit (docs/resources.md): every list, get,
 * patch, delete, cancel and download takes a request slot like a model action, refused with 429 + Retry-After and
 * counted as a refusal; an upload's chunks ride on its start's slot (a `query` or a small chunk that is not the last
 * does not); a list reads at most MAX_PAGE items upstream.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { MAX_PAGE } from "../../src/routes/resources/call";
import { MIN_FREE_CHUNK } from "../../src/routes/resources/files";
import { freezeClock } from "../helpers/governance";
import { admin, BASE, createKey, flushUsage, mockUpstream, ownResource, type UpstreamCall } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

const UPSTREAM = "https://gemini.upstream.test";

/** One call to a resource route through the Worker; resolves once its row or refusal count is in D1. */
async function resource(method: string, path: string, key: string, init: { headers?: Record<string, string>; body?: BodyInit } = {}) {
  const ctx = createExecutionContext();
  const req = new Request(`${BASE}/genai/${path}`, { method, headers: { "x-goog-api-key": key, ...init.headers }, body: init.body });
  const res = await worker.fetch(req, env, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx);
  await flushUsage();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** A Gemini that has every resource asked for, and runs resumable uploads at `${UPSTREAM}/upload-session`. */
function gemini(): UpstreamCall[] {
  return mockUpstream((c) => {
    const url = new URL(c.url);
    if (url.pathname === "/upload/v1beta/files") return new Response(null, { headers: { "x-goog-upload-url": `${UPSTREAM}/upload-session`, "x-goog-upload-status": "active" } });
    if (url.pathname === "/upload-session") {
      const cmd = c.headers.get("x-goog-upload-command") ?? "";
      if (cmd.includes("finalize")) return Response.json({ file: { name: `files/up${crypto.randomUUID().slice(0, 8)}` } }, { headers: { "x-goog-upload-status": "final" } });
      return new Response(null, { headers: { "x-goog-upload-status": "active" } });
    }
    if (url.pathname.endsWith(":download")) return new Response("bytes");
    const name = url.pathname.replace(/^\/v1beta\//, "").replace(/:cancel$/, "");
    return Response.json(name.startsWith("batches/") ? { name, done: false, metadata: { state: "BATCH_STATE_RUNNING" } } : { name });
  });
}

const refused = async (keyId: string) =>
  (await env.DB.prepare("SELECT COALESCE(SUM(count), 0) AS n FROM refusals WHERE key_id = ? AND status = 429").bind(keyId).first<number>("n")) ?? 0;

describe("resource reads take a request slot", () => {
  it("with rpm 1, one list is served; every other read is 429 with Retry-After, never reaches the upstream, and is counted", async () => {
    freezeClock();
    const { key, id } = await createKey({ name: "reader", rate_limit: { rpm: 1 } });
    for (const [kind, name] of [["file", "files/f1"], ["cachedContent", "cachedContents/c1"], ["batch", "batches/b1"], ["operation", "models/veo-2.0-generate-001/operations/o1"]] as const) {
      await ownResource(id, kind, name);
    }
    await env.DB.prepare("UPDATE resources SET alias = 'operations/o1' WHERE name = 'models/veo-2.0-generate-001/operations/o1'").run();
    const calls = gemini();
    const first = await resource("GET", "v1beta/files", key);
    expect(first.status).toBe(200);
    expect(first.json().files).toEqual([{ name: "files/f1" }]);
    const upstreamBefore = calls.length;

    const reads: [string, string, BodyInit?][] = [
      ["GET", "v1beta/files"],
      ["GET", "v1beta/files/f1"],
      ["GET", "v1beta/files/f1:download"],
      ["GET", "download/v1beta/files/f1:download"],
      ["DELETE", "v1beta/files/f1"],
      ["GET", "v1beta/cachedContents"],
      ["GET", "v1beta/cachedContents/c1"],
      ["PATCH", "v1beta/cachedContents/c1", JSON.stringify({ ttl: "60s" })],
      ["DELETE", "v1beta/cachedContents/c1"],
      ["GET", "v1beta/batches"],
      ["GET", "v1beta/batches/b1"],
      ["POST", "v1beta/batches/b1:cancel", "{}"],
      ["DELETE", "v1beta/batches/b1"],
      ["GET", "v1beta/operations/o1"],
      ["GET", "v1beta/models/veo-2.0-generate-001/operations/o1"],
      // Not the key's, or not there at all: refused the same, before D1 is asked.
      ["GET", "v1beta/files/someone-elses"],
    ];
    for (const [method, path, body] of reads) {
      const r = await resource(method, path, key, { body });
      expect({ path, status: r.status }).toEqual({ path, status: 429 });
      expect(r.headers.get("retry-after")).toBe("60");
      expect(r.json()).toEqual({ error: { code: 429, status: "RESOURCE_EXHAUSTED", message: 'rate limit: key "reader" 1 requests/min; retry after 60 s' } });
    }
    expect(calls.length).toBe(upstreamBefore);
    expect(await refused(id)).toBe(reads.length);
    // The resources are untouched (nothing was deleted behind a refusal).
    const states = await env.DB.prepare("SELECT state FROM resources WHERE key_id = ?").bind(id).all<{ state: string }>();
    expect(states.results.every((s) => s.state !== "deleted")).toBe(true);
  });

  it("a key without limits is not slowed: 12 reads in a row are served", async () => {
    const { key, id } = await createKey({ name: "free" });
    await ownResource(id, "file", "files/free1");
    gemini();
    for (let i = 0; i < 12; i++) expect((await resource("GET", "v1beta/files/free1", key)).status).toBe(200);
  });
});

describe("uploads take one slot per upload", () => {
  const start = (key: string, size = 2 * MIN_FREE_CHUNK + 10) =>
    resource("POST", "upload/v1beta/files", key, {
      headers: { "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "content-type": "application/json", "x-goog-upload-header-content-length": String(size) },
      body: JSON.stringify({ file: { displayName: "f" } }),
    });
  const chunk = (key: string, url: string, command: string, offset: number, bytes: number) =>
    resource("POST", url.slice(`${BASE}/genai/`.length), key, {
      headers: { "x-goog-upload-command": command, "x-goog-upload-offset": String(offset), "content-length": String(bytes) },
      body: bytes ? new Uint8Array(bytes) : undefined,
    });

  it("with rpm 1, the start takes the slot and its chunks ride on it; the next start is 429", async () => {
    freezeClock();
    const { key } = await createKey({ name: "uploader", rate_limit: { rpm: 1 } });
    gemini();
    const s = await start(key);
    expect(s.status).toBe(200);
    const url = s.headers.get("x-goog-upload-url")!;
    expect((await chunk(key, url, "upload", 0, MIN_FREE_CHUNK)).status).toBe(200);
    expect((await chunk(key, url, "upload", MIN_FREE_CHUNK, MIN_FREE_CHUNK)).status).toBe(200);
    const last = await chunk(key, url, "upload, finalize", 2 * MIN_FREE_CHUNK, 10);
    expect(last.status).toBe(200);
    expect(last.json().file.name).toMatch(/^files\//);
    expect((await start(key)).status).toBe(429);
  });

  it("hostile: queries and tiny chunks that are not the last each take a slot, so a session is no unmetered channel upstream", async () => {
    freezeClock();
    const { key, id } = await createKey({ name: "prober", rate_limit: { rpm: 1 } });
    const calls = gemini();
    const s = await start(key);
    const url = s.headers.get("x-goog-upload-url")!;
    const before = calls.length;
    const q = await chunk(key, url, "query", 0, 0);
    expect(q.status).toBe(429);
    expect(q.headers.get("retry-after")).toBe("60");
    expect((await chunk(key, url, "upload", 0, 1)).status).toBe(429);
    // A last chunk that does not complete the declared size could be refused upstream and sent again: not free.
    expect((await chunk(key, url, "upload, finalize", 0, 1)).status).toBe(429);
    expect(calls.length).toBe(before);
    expect(await refused(id)).toBe(3);
  });

  it("a revoked key's chunks are refused though they need no slot", async () => {
    const { key, id } = await createKey({ name: "revoked-mid-upload" });
    gemini();
    const s = await start(key);
    const url = s.headers.get("x-goog-upload-url")!;
    expect((await admin(`/keys/${id}`, { method: "DELETE" })).status).toBeLessThan(300);
    const r = await chunk(key, url, "upload, finalize", 0, 10);
    expect(r.status).toBe(403);
    expect(r.json().error.message).toBe("API key has been revoked");
  });
});

describe("a list's upstream fan-out", () => {
  it(`reads at most ${MAX_PAGE} items upstream per call, whatever pageSize asks; the rest come by nextPageToken`, async () => {
    const { key, id } = await createKey({ name: "lister" });
    for (let i = 0; i < 30; i++) await ownResource(id, "file", `files/fan${String(i).padStart(2, "0")}`);
    const calls = gemini();
    const page = await resource("GET", "v1beta/files?pageSize=100", key);
    expect(page.status).toBe(200);
    expect(page.json().files).toHaveLength(MAX_PAGE);
    expect(calls.length).toBe(MAX_PAGE);
    const rest = await resource("GET", `v1beta/files?pageSize=100&pageToken=${encodeURIComponent(page.json().nextPageToken)}`, key);
    expect(rest.json().files).toHaveLength(30 - MAX_PAGE);
    expect(calls.length).toBe(30);
  });
});
