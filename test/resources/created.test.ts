/**
 * What Gemini creates is tracked or undone (src/routes/resources/created.ts): when D1 will not take a new batch's,
 * cache's, file's or operation's row, the write is retried, and failing that the resource is cancelled or deleted
 * upstream, the batch's hold released, the call's usage row still written, and the caller told what happened. A
 * client that leaves mid-create leaves a recorded resource, never an untracked one or a stuck hold. D1 fails
 * through a proxy over env.DB given to this call only (the Governors and the usage buffer keep the real one).
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { waits } from "../../src/lib/sleep";
import { RECORD_TRIES } from "../../src/routes/resources/created";
import { counters } from "../helpers/governance";
import { BASE, createKey, flushUsage, mockUpstream, usageRow, type UpstreamCall } from "../helpers/worker";

afterEach(() => vi.restoreAllMocks());

/** env.DB whose writes of a resource row fail `times` times (then succeed); everything else is the real D1. */
function failingResourceWrites(times = Infinity) {
  let left = times;
  const tried = { n: 0 };
  const DB = new Proxy(env.DB, {
    get(t, p) {
      if (p !== "prepare") return Reflect.get(t, p).bind?.(t) ?? Reflect.get(t, p);
      return (sql: string) => {
        const s = t.prepare(sql);
        if (!sql.includes("INSERT INTO resources")) return s;
        return {
          bind: (...a: unknown[]) => {
            const bound = s.bind(...a);
            const run = bound.run.bind(bound);
            return Object.assign(bound, {
              run: () => {
                tried.n++;
                return left-- > 0 ? Promise.reject(new Error("D1_ERROR: simulated outage")) : run();
              },
            });
          },
        };
      };
    },
  });
  return { DB, tried };
}

let seq = 0;
/** A Gemini that creates what it is asked to, and cancels and deletes it. `undo` answers the cancels and deletes. */
function gemini(undo: (c: UpstreamCall) => Response = () => Response.json({})) {
  const id = `n${++seq}${crypto.randomUUID().slice(0, 6)}`;
  const calls = mockUpstream((c) => {
    const path = new URL(c.url).pathname;
    if (c.method === "DELETE" || path.endsWith(":cancel")) return undo(c);
    if (path.endsWith(":batchGenerateContent")) return Response.json({ name: `batches/${id}`, metadata: { state: "BATCH_STATE_PENDING" } });
    if (path.endsWith("/cachedContents")) return Response.json({ name: `cachedContents/${id}`, usageMetadata: { totalTokenCount: 4242 } });
    if (path.endsWith(":predictLongRunning")) return Response.json({ name: `models/veo-2.0-generate-001/operations/${id}` });
    if (path.startsWith("/upload/")) return Response.json({ file: { name: `files/${id}` } });
    return Response.json({ error: { code: 404, message: "not found", status: "NOT_FOUND" } }, { status: 404 });
  });
  return { calls, id, undone: () => calls.filter((c) => c.method === "DELETE" || c.url.includes(":cancel")).map((c) => `${c.method} ${new URL(c.url).pathname}`) };
}

async function call(method: string, path: string, key: string, body: BodyInit, opts: { DB?: D1Database; headers?: Record<string, string>; signal?: AbortSignal } = {}) {
  const ctx = createExecutionContext();
  const req = new Request(`${BASE}/genai/${path}`, { method, headers: { "x-goog-api-key": key, "content-type": "application/json", ...opts.headers }, body, signal: opts.signal });
  const res = await worker.fetch(req, opts.DB ? { ...env, DB: opts.DB } : env, ctx);
  const text = await res.text().catch(() => "");
  await waitOnExecutionContext(ctx);
  await flushUsage();
  return { status: res.status, text, requestId: res.headers.get("x-edgeway-request-id") };
}

const BATCH = JSON.stringify({ batch: { inputConfig: { requests: { requests: [{ request: { contents: [{ parts: [{ text: "x" }] }], generationConfig: { maxOutputTokens: 100 } } }] } } } });
const resourceRow = (name: string) => env.DB.prepare("SELECT * FROM resources WHERE name = ?").bind(name).first<Record<string, unknown>>();

describe("a create D1 will not record", () => {
  it("a batch: the write is retried, then the batch is cancelled and deleted upstream, its hold released, its row written; the caller gets 503 saying so", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const { key, id } = await createKey({ name: "batcher", budget: { max_usd: 10 } });
    const g = gemini();
    const { DB, tried } = failingResourceWrites();
    const r = await call("POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", key, BATCH, { DB });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text)).toEqual({
      error: { code: 503, status: "UNAVAILABLE", message: "the batch was created upstream but could not be recorded; it was cancelled and deleted" },
    });
    expect(tried.n).toBe(RECORD_TRIES);
    expect(g.undone()).toEqual([`POST /v1beta/batches/${g.id}:cancel`, `DELETE /v1beta/batches/${g.id}`]);
    expect((await counters("key", id)).held.usd).toBe(0);
    const row = await usageRow(r.requestId);
    expect(row).toMatchObject({ key_id: id, action: "batches.create", status: 503, outcome: "error" });
    expect(JSON.parse(row!.attempts_json as string).map((a: { status: number }) => a.status)).toEqual([200, 200, 200]);
    expect(await resourceRow(`batches/${g.id}`)).toBeNull();
  });

  it("a batch whose cancel fails too: the caller is told it may still run, the hold is still released", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const log = vi.spyOn(console, "error").mockImplementation(() => {});
    const { key, id } = await createKey({ name: "batcher-2", budget: { max_usd: 10 } });
    const g = gemini(() => Response.json({ error: { code: 500, message: "boom", status: "INTERNAL" } }, { status: 500 }));
    const r = await call("POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", key, BATCH, { DB: failingResourceWrites().DB });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).error.message).toBe(
      "the batch was created upstream but could not be recorded; cancelling it failed too (upstream 500); the gateway logged its name for the operator",
    );
    expect(log.mock.calls.flat().join(" ")).toContain(`batches/${g.id}: untracked upstream resource`);
    expect((await counters("key", id)).held.usd).toBe(0);
    expect(await usageRow(r.requestId)).toMatchObject({ status: 503 });
  });

  it("a D1 that fails once and then takes the write: the batch is recorded and served, nothing undone", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const { key, id } = await createKey({ name: "batcher-3", budget: { max_usd: 10 } });
    const g = gemini();
    const r = await call("POST", "v1beta/models/gemini-2.0-flash:batchGenerateContent", key, BATCH, { DB: failingResourceWrites(1).DB });
    expect(r.status).toBe(200);
    expect(g.undone()).toEqual([]);
    expect(await resourceRow(`batches/${g.id}`)).toMatchObject({ key_id: id, kind: "batch" });
    // The batch runs on: its worst case stays held until it is seen finished.
    expect((await counters("key", id)).held.usd).toBeGreaterThan(0);
  });

  it("a cache: deleted upstream, and its row still charges the tokens Gemini counted", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const { key, id } = await createKey({ name: "cacher" });
    const g = gemini();
    const body = JSON.stringify({ model: "models/gemini-2.0-flash", contents: [{ role: "user", parts: [{ text: "x" }] }] });
    const r = await call("POST", "v1beta/cachedContents", key, body, { DB: failingResourceWrites().DB });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).error.message).toBe("the cache was created upstream but could not be recorded; it was deleted");
    expect(g.undone()).toEqual([`DELETE /v1beta/cachedContents/${g.id}`]);
    expect(await usageRow(r.requestId)).toMatchObject({ key_id: id, action: "cachedContents.create", status: 503, input_tokens: 4242, model: "gemini-2.0-flash" });
  });

  it("a file (a multipart upload): deleted upstream", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const { key } = await createKey({ name: "uploader" });
    const g = gemini();
    const r = await call("POST", "upload/v1beta/files", key, "--b\r\ncontent-type: application/json\r\n\r\n{}\r\n--b--", {
      DB: failingResourceWrites().DB,
      headers: { "x-goog-upload-protocol": "multipart", "content-type": "multipart/related; boundary=b" },
    });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).error.message).toBe("the file was created upstream but could not be recorded; it was deleted");
    expect(g.undone()).toEqual([`DELETE /v1beta/files/${g.id}`]);
    expect(await usageRow(r.requestId)).toMatchObject({ action: "files.upload", status: 503 });
  });

  it("a video operation: cancelled upstream", async () => {
    vi.spyOn(waits, "sleep").mockResolvedValue();
    const { key } = await createKey({ name: "director" });
    const g = gemini();
    const r = await call("POST", "v1beta/models/veo-2.0-generate-001:predictLongRunning", key, JSON.stringify({ instances: [{ prompt: "x" }] }), { DB: failingResourceWrites().DB });
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).error.message).toBe("the operation was created upstream but could not be recorded; it was cancelled");
    expect(g.undone()).toEqual([`POST /v1beta/models/veo-2.0-generate-001/operations/${g.id}:cancel`]);
    expect(await usageRow(r.requestId)).toMatchObject({ action: "operations.create", status: 503 });
  });
});

describe("a client that leaves mid-create", () => {
  it("the upstream create is not cut: the batch is recorded as the key's, its hold kept for it, its row written", async () => {
    const { key, id } = await createKey({ name: "leaver", budget: { max_usd: 10 } });
    let created!: () => void;
    const answered = new Promise<void>((r) => (created = r));
    let sent!: () => void;
    const reached = new Promise<void>((r) => (sent = r));
    const name = `batches/left${crypto.randomUUID().slice(0, 8)}`;
    mockUpstream(async (c) => {
      sent();
      // Gemini creates the batch whether or not the gateway is still listening; a fetch the gateway aborted rejects.
      await answered;
      if (c.signal.aborted) throw c.signal.reason;
      return Response.json({ name, metadata: { state: "BATCH_STATE_PENDING" } });
    });
    const client = new AbortController();
    const ctx = createExecutionContext();
    const req = new Request(`${BASE}/genai/v1beta/models/gemini-2.0-flash:batchGenerateContent`, {
      method: "POST", headers: { "x-goog-api-key": key, "content-type": "application/json" }, body: BATCH, signal: client.signal,
    });
    const pending = Promise.resolve(worker.fetch(req, env, ctx)).catch(() => undefined);
    await reached;
    client.abort();
    created();
    await pending;
    await waitOnExecutionContext(ctx);
    await flushUsage();
    expect(await resourceRow(name)).toMatchObject({ key_id: id, kind: "batch" });
    expect((await counters("key", id)).held.usd).toBeGreaterThan(0);
    const rows = await env.DB.prepare("SELECT status FROM usage WHERE key_id = ? AND action = 'batches.create'").bind(id).all();
    expect(rows.results).toEqual([{ status: 200 }]);
  });
});
