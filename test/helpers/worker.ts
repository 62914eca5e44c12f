/** Shared helpers for tests that run inside workerd (the `workers` project). */
import { createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { vi } from "vitest";
import worker from "../../src/index";
import { ResourceStore, type Kind } from "../../src/resources/store";
import { USAGE_SHARDS, usageShard } from "../../src/usage/buffer";
import { handOffsSettled } from "../../src/usage/sink";

export const ADMIN = { authorization: "Bearer test-admin-token-0123456789abcdef", "content-type": "application/json" };
export const BASE = "https://gw.test";

export function admin(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return SELF.fetch(`${BASE}/admin${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: ADMIN,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

/** Creates a virtual key through the admin API; returns the secret and its record. */
export async function createKey(fields: Record<string, unknown> = {}): Promise<{ key: string; id: string } & Record<string, unknown>> {
  const r = await admin("/keys", { body: { name: "test", ...fields } });
  if (r.status !== 201) throw new Error(`createKey failed: ${r.status} ${await r.text()}`);
  return r.json();
}

/** `signal`: the request's signal, as the runtime aborts it when the client disconnects. */
type GenaiOpts = { version?: string; headers?: Record<string, string>; query?: string; signal?: AbortSignal };

/** The Gemini request a client would send. `model` may be `provider/model` or a bare name. */
export function genaiRequest(model: string, action: string, body: unknown, key: string, opts: GenaiOpts = {}): Request {
  const url = `${BASE}/genai/${opts.version ?? "v1beta"}/models/${model}:${action}${opts.query ?? ""}`;
  return new Request(url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key, ...opts.headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
    signal: opts.signal,
  });
}

/** POSTs a Gemini request to the gateway with a virtual key. `model` may be `provider/model` or a bare name. */
export function genai(model: string, action: string, body: unknown, key: string, opts: GenaiOpts = {}): Promise<Response> {
  return SELF.fetch(genaiRequest(model, action, body, key, opts));
}

/**
 * Makes the usage log current, deterministically: waits for this isolate's hand-offs in flight, then has every
 * buffer shard write what it holds to D1 and settle it (what its alarm would do within a second). Rows a failing D1
 * will not take stay pending.
 */
export async function flushUsage(): Promise<void> {
  await handOffsSettled(env);
  await Promise.all(
    Array.from({ length: USAGE_SHARDS }, async (_, i) => {
      const shard = usageShard(env.USAGE_BUFFER, i);
      // One flush writes up to 1,000 rows; a bigger backlog takes a few.
      for (let n = 0; n < 10 && (await shard.flush()).pending > 0; n++);
    }),
  );
}

/**
 * The call through the Worker's own fetch with a test execution context, before its body is read (so a test can
 * read a stream chunk by chunk, or cancel it): `settled()` waits for the work it handed to waitUntil, then flushes
 * the usage log (`flushUsage`), so the call's row is in D1 and settled. `env` swaps bindings (e.g. a failing DB).
 */
export async function genaiCall(
  model: string,
  action: string,
  body: unknown,
  key: string,
  opts: GenaiOpts & { env?: Partial<Cloudflare.Env> } = {},
): Promise<{ res: Response; settled: () => Promise<void> }> {
  const ctx = createExecutionContext();
  // `env` swaps bindings or vars for this call only (a new env object: the config is parsed for it, as for a new isolate).
  const res = await worker.fetch(genaiRequest(model, action, body, key, opts), opts.env ? { ...env, ...opts.env } : env, ctx);
  return {
    res,
    settled: async () => {
      await waitOnExecutionContext(ctx);
      await flushUsage();
    },
  };
}

/** The usage row of one call (by its x-edgeway-request-id), or null. Flush first (`settled()` or `flushUsage`). */
export function usageRow(requestId: string | null): Promise<Record<string, unknown> | null> {
  return env.DB.prepare("SELECT * FROM usage WHERE request_id = ?").bind(requestId).first();
}

/** The call's row once it is written (a Live session's is written when the socket has closed): flushes until then. */
export const rowWhenWritten = (requestId: string | null) =>
  vi.waitFor(async () => {
    await flushUsage();
    const r = await usageRow(requestId);
    if (!r) throw new Error("no row yet");
    return r;
  });

/**
 * Like `genai`, but through the Worker's handler with an execution context the test waits on: resolves once the
 * body has been read (streams included) and every waitUntil (usage row, governance settlement) has finished.
 */
export async function genaiSettled(
  model: string,
  action: string,
  body: unknown,
  key: string,
  opts: GenaiOpts & { env?: Partial<Cloudflare.Env> } = {},
): Promise<Response> {
  const { res, settled } = await genaiCall(model, action, body, key, opts);
  const text = await res.text();
  await settled();
  return new Response(text, { status: res.status, headers: res.headers });
}

export const textRequest = (text: string, extra: Record<string, unknown> = {}) => ({
  contents: [{ role: "user", parts: [{ text }] }],
  ...extra,
});

export interface UpstreamCall {
  url: string;
  method: string;
  headers: Headers;
  body: string;
  signal: AbortSignal;
}

/**
 * Replaces the global fetch the gateway uses for upstream calls. The handler builds a fresh Response per call
 * (a Response body can be read once). Returns the calls seen, in order.
 */
export function mockUpstream(handler: (call: UpstreamCall) => Response | Promise<Response>): UpstreamCall[] {
  const calls: UpstreamCall[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input, init) => {
    const req = new Request(input as RequestInfo, init);
    const call = { url: req.url, method: req.method, headers: req.headers, body: await req.text(), signal: req.signal };
    calls.push(call);
    return handler(call);
  });
  return calls;
}

/**
 * An SSE body from raw chunks, exactly as given (so tests choose the framing and the split points). `end` says how
 * the body ends once they were read: closed, cut (the connection drops), never (a hang), or cut when a promise
 * settles (so a test can cut only after the client saw the first bytes).
 */
export function sseResponse(
  chunks: string[],
  init: ResponseInit = {},
  end: "close" | "cut" | "hang" | Promise<unknown> = "close",
): Response {
  const enc = new TextEncoder();
  const cut = (c: ReadableStreamDefaultController) => c.error(new TypeError("Network connection lost."));
  return new Response(
    new ReadableStream({
      start(c) {
        for (const ch of chunks) c.enqueue(enc.encode(ch));
        if (end === "close") c.close();
      },
      // Called once the chunks were read: erroring earlier would discard them unread.
      async pull(c) {
        if (end === "cut") cut(c);
        else if (end instanceof Promise) await end.finally(() => cut(c));
      },
    }),
    { status: 200, headers: { "content-type": "text/event-stream" }, ...init },
  );
}

/** An upstream that never answers: settles only when the gateway aborts the call, as a real fetch would. */
export function hang(call: UpstreamCall): Promise<Response> {
  return new Promise((_, reject) => {
    if (call.signal.aborted) reject(call.signal.reason);
    call.signal.addEventListener("abort", () => reject(call.signal.reason), { once: true });
  });
}

/** Reads an SSE response to the end and returns the parsed `data:` payloads. */
export async function readSse(r: Response): Promise<unknown[]> {
  const text = await r.text();
  return text
    .split(/\r\n\r\n|\n\n/)
    .filter((e) => e.startsWith("data: "))
    .map((e) => JSON.parse(e.slice(6)));
}

/**
 * Records a Gemini resource as `keyId`'s, as its creation through the gateway would (src/resources/store.ts): a
 * generate request may then name it (`cachedContent`, a file URI); one the gateway has no record of is a 404.
 */
export async function ownResource(keyId: string, kind: Kind, name: string): Promise<void> {
  await new ResourceStore(env.DB).create({ key_id: keyId, team_id: null, shared: 0 }, { name, kind });
}

/** A streamed upstream body that sends `first`, then waits for the test to call `next(...)`, `finish(...)` or `cut()`. */
export function gatedStream(first: string) {
  const enc = new TextEncoder();
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
      c.enqueue(enc.encode(first));
    },
  });
  return {
    response: () => new Response(body, { headers: { "content-type": "text/event-stream" } }),
    next: (more: string) => ctl.enqueue(enc.encode(more)),
    finish: (last: string) => {
      ctl.enqueue(enc.encode(last));
      ctl.close();
    },
    cut: () => ctl.error(new Error("connection reset by peer")),
  };
}
