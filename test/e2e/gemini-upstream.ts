/**
 * A loopback Gemini that implements the resource endpoints the way the real one answers them: resumable uploads
 * (start → `x-goog-upload-url`, chunks checked against `X-Goog-Upload-Offset`, `x-goog-upload-status`), multipart
 * uploads, files (list paged by `nextPageToken`, get, delete, download of generated files), cached contents,
 * batches (operations whose metadata is the batch, moving PENDING → RUNNING → SUCCEEDED on each poll, inline or
 * file output), Veo's `predictLongRunning` with its operation polls, and generateContent checking the files and
 * caches it is given. Upload bodies are counted as they arrive, not buffered.
 */
import { GoogleGenAI } from "@google/genai";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startGateway } from "./harness";

export const PUBLIC_HOST = "https://generativelanguage.googleapis.com";

export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** JSON bodies; upload chunks are counted, not kept. */
  body: string;
  bytes: number;
}

interface FileObj {
  name: string;
  displayName?: string;
  mimeType: string;
  sizeBytes: string;
  createTime: string;
  updateTime: string;
  expirationTime: string;
  sha256Hash: string;
  uri: string;
  state: "ACTIVE";
  source: "UPLOADED" | "GENERATED";
}

interface Batch {
  op: Record<string, any>;
  polls: number;
  model: string;
  requests: unknown[] | undefined;
  fileInput?: string;
  embed: boolean;
}

export interface GeminiMock {
  url: string;
  key: string;
  seen: Seen[];
  files: Map<string, FileObj & { content?: Buffer }>;
  /** Bytes each upload session received. */
  uploads: Map<string, { received: number; declared: number; meta: Record<string, any>; chunks: Buffer[] }>;
  caches: Map<string, Record<string, any>>;
  batches: Map<string, Batch>;
  operations: Map<string, { name: string; polls: number; video: string }>;
  /** Paths (without query) answered with a redirect to the given location instead. */
  redirects: Map<string, string>;
  /** Upload URLs name this origin instead of the mock's own (another origin: the key must not go there). */
  uploadOrigin?: string;
  /** A download of a generated file waits for this before sending its last chunk (a test proves streaming). */
  downloadGate?: Promise<void>;
  /** Polls a batch or an operation takes to finish. */
  pollsToFinish: number;
  /**
   * When set, every keyed request is refused with this, as Google refuses a credential (a 403 carrying an
   * `ErrorInfo` reason such as `API_KEY_INVALID`), whatever it asks for.
   */
  refuseKey?: { code: number; status: string; message: string; reason: string };
  close(): Promise<void>;
}

const now = () => new Date().toISOString();
const id = (n = 12) => randomBytes(n).toString("hex").slice(0, n);
const USAGE = { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 15 };

export async function geminiMock(key = "upstream-secret-gemini"): Promise<GeminiMock> {
  const seen: Seen[] = [];
  const mock = {
    key, seen, files: new Map(), uploads: new Map(), caches: new Map(), batches: new Map(), operations: new Map(),
    redirects: new Map(), pollsToFinish: 2,
  } as unknown as GeminiMock;

  const server = http.createServer((req, res) => {
    handle(mock, req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { code: 500, message: String(e), status: "INTERNAL" } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mock.close = () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); });
  return mock;
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(body === undefined ? "" : JSON.stringify(body));
}

const error = (res: http.ServerResponse, code: number, message: string, status: string) => send(res, code, { error: { code, message, status } });

async function readAll(req: http.IncomingMessage, seen: Seen): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) {
    chunks.push(c as Buffer);
    seen.bytes += (c as Buffer).length;
  }
  return Buffer.concat(chunks);
}

function newFile(mock: GeminiMock, meta: Record<string, any>, size: number, mimeType: string, source: FileObj["source"], content?: Buffer): FileObj {
  const name = typeof meta.name === "string" ? meta.name : `files/${id()}`;
  const f: FileObj & { content?: Buffer } = {
    name, displayName: meta.displayName, mimeType, sizeBytes: String(size), createTime: now(), updateTime: now(),
    expirationTime: new Date(Date.now() + 48 * 3600_000).toISOString(), sha256Hash: "ZmFrZQ==",
    uri: `${PUBLIC_HOST}/v1beta/${name}`, state: "ACTIVE", source, content,
  };
  mock.files.set(name, f);
  const { content: _c, ...shown } = f;
  return shown;
}

function page<T>(items: T[], url: URL, def = 10): { items: T[]; next?: string } {
  const size = Math.min(Number(url.searchParams.get("pageSize") || def), 100);
  const start = Number(url.searchParams.get("pageToken") || 0);
  const slice = items.slice(start, start + size);
  return { items: slice, ...(start + size < items.length ? { next: String(start + size) } : {}) };
}

async function handle(mock: GeminiMock, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url!, mock.url);
  const path = url.pathname;
  const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body: "", bytes: 0 };
  mock.seen.push(s);

  const redirect = mock.redirects.get(path);
  if (redirect) {
    await readAll(req, s);
    res.writeHead(302, { location: redirect });
    return void res.end();
  }
  // A generated file's storage (where a download may redirect): no key needed, none expected.
  const storage = /^\/storage\/(.+)$/.exec(path);
  if (storage) return serveBytes(mock, res, mock.files.get(`files/${storage[1]}`));

  // Resumable upload sessions: the upload URL is the credential (as with Google's), the key is optional.
  const uploadId = url.searchParams.get("upload_id");
  if (path === "/upload/v1beta/files" && uploadId) return chunk(mock, req, res, s, uploadId);

  if (req.headers["x-goog-api-key"] !== mock.key) {
    await readAll(req, s);
    return error(res, 400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT");
  }
  if (mock.refuseKey) {
    await readAll(req, s);
    const { code, status, message, reason } = mock.refuseKey;
    return send(res, code, { error: { code, message, status, details: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason, domain: "googleapis.com" }] } });
  }
  const body = req.method === "GET" || req.method === "DELETE" ? Buffer.alloc(0) : await readAll(req, s);
  if (path !== "/upload/v1beta/files") s.body = body.toString("utf8");
  const json = () => (s.body ? JSON.parse(s.body) : {});

  if (path === "/upload/v1beta/files") {
    const protocol = req.headers["x-goog-upload-protocol"];
    if (protocol === "resumable" && req.headers["x-goog-upload-command"] === "start") {
      const sid = id(24);
      mock.uploads.set(sid, { received: 0, declared: Number(req.headers["x-goog-upload-header-content-length"] ?? -1), meta: JSON.parse(body.toString() || "{}"), chunks: [] });
      const origin = mock.uploadOrigin ?? mock.url;
      res.writeHead(200, {
        "x-goog-upload-url": `${origin}/upload/v1beta/files?upload_id=${sid}&upload_protocol=resumable`,
        "x-goog-upload-status": "active",
        "x-goog-upload-control-url": `${origin}/upload/v1beta/files?upload_id=${sid}&upload_protocol=resumable`,
        "x-goog-upload-chunk-granularity": "8388608",
        "content-type": "text/plain; charset=utf-8",
      });
      return void res.end();
    }
    if (protocol === "multipart") {
      const boundary = /boundary=("?)([^";]+)\1/.exec(String(req.headers["content-type"]))?.[2];
      const parts = boundary ? body.toString("latin1").split(`--${boundary}`).slice(1, -1) : [];
      if (parts.length !== 2) return error(res, 400, "multipart body must have a metadata part and a media part", "INVALID_ARGUMENT");
      const [metaPart, mediaPart] = parts.map((p) => p.slice(p.indexOf("\r\n\r\n") + 4).replace(/\r\n$/, ""));
      const meta = JSON.parse(metaPart!).file ?? {};
      const mime = /content-type:\s*([^\r\n]+)/i.exec(parts[1]!)?.[1] ?? "application/octet-stream";
      return send(res, 200, { file: newFile(mock, meta, Buffer.byteLength(mediaPart!, "latin1"), meta.mimeType ?? mime, "UPLOADED") });
    }
    return error(res, 400, "unsupported upload protocol", "INVALID_ARGUMENT");
  }

  // Files.
  if (path === "/v1beta/files" && req.method === "GET") {
    const p = page([...mock.files.values()].map(({ content: _c, ...f }) => f), url);
    return send(res, 200, { files: p.items, ...(p.next ? { nextPageToken: p.next } : {}) });
  }
  let m = /^\/v1beta\/(files\/[a-z0-9-]+)(:download)?$/.exec(path);
  if (m) {
    const f = mock.files.get(m[1]!);
    if (!f) return error(res, 403, `You do not have permission to access the File ${m[1]!.slice(6)} or it may not exist.`, "PERMISSION_DENIED");
    if (m[2]) {
      if (f.source !== "GENERATED") return error(res, 400, "Only generated files can be downloaded.", "INVALID_ARGUMENT");
      return serveBytes(mock, res, f);
    }
    if (req.method === "DELETE") {
      mock.files.delete(f.name);
      return send(res, 200, {});
    }
    const { content: _c, ...shown } = f;
    return send(res, 200, shown);
  }

  // Cached contents.
  if (path === "/v1beta/cachedContents") {
    if (req.method === "GET") {
      const p = page([...mock.caches.values()], url);
      return send(res, 200, { cachedContents: p.items, ...(p.next ? { nextPageToken: p.next } : {}) });
    }
    const b = json();
    const missing = fileRefs(b).find((f) => !mock.files.has(f));
    if (missing) return error(res, 403, `You do not have permission to access the File ${missing} or it may not exist.`, "PERMISSION_DENIED");
    const name = `cachedContents/${id()}`;
    const ttl = Number(String(b.ttl ?? "3600s").replace("s", ""));
    // One clock reading for both ends, as Gemini's own answer has: two readings could differ by a millisecond.
    const at = Date.now();
    const c = {
      name, model: b.model, displayName: b.displayName ?? "", createTime: new Date(at).toISOString(), updateTime: new Date(at).toISOString(),
      expireTime: new Date(at + ttl * 1000).toISOString(), usageMetadata: { totalTokenCount: 4096 },
    };
    mock.caches.set(name, c);
    return send(res, 200, c);
  }
  m = /^\/v1beta\/(cachedContents\/[a-z0-9]+)$/.exec(path);
  if (m) {
    const c = mock.caches.get(m[1]!);
    if (!c) return error(res, 403, `CachedContent not found (or permission denied)`, "PERMISSION_DENIED");
    if (req.method === "DELETE") {
      mock.caches.delete(c.name);
      return send(res, 200, {});
    }
    if (req.method === "PATCH") {
      const b = json();
      const at = Date.now();
      if (b.ttl) c.expireTime = new Date(at + Number(String(b.ttl).replace("s", "")) * 1000).toISOString();
      c.updateTime = new Date(at).toISOString();
    }
    return send(res, 200, c);
  }

  // Batches.
  if (path === "/v1beta/batches" && req.method === "GET") {
    const p = page([...mock.batches.values()].map((b) => b.op), url);
    return send(res, 200, { operations: p.items, ...(p.next ? { nextPageToken: p.next } : {}) });
  }
  m = /^\/v1beta\/(batches\/[a-z0-9-]+)(:cancel)?$/.exec(path);
  if (m) {
    const b = mock.batches.get(m[1]!);
    if (!b) return error(res, 404, `Batch ${m[1]} not found`, "NOT_FOUND");
    if (m[2]) {
      finishBatch(mock, b, "BATCH_STATE_CANCELLED");
      return send(res, 200, {});
    }
    if (req.method === "DELETE") {
      mock.batches.delete(m[1]!);
      return send(res, 200, {});
    }
    advance(mock, b);
    return send(res, 200, b.op);
  }

  // Operations (Veo).
  m = /^\/v1beta\/(?:models\/[^/]+\/)?operations\/([a-z0-9]+)$/.exec(path);
  if (m) {
    const op = mock.operations.get(m[1]!);
    if (!op) return error(res, 404, "Operation not found", "NOT_FOUND");
    op.polls++;
    if (op.polls < mock.pollsToFinish) return send(res, 200, { name: op.name });
    if (!mock.files.has(`files/${op.video}`)) {
      newFile(mock, { name: `files/${op.video}` }, 3 * 65536, "video/mp4", "GENERATED", Buffer.alloc(3 * 65536, 7));
    }
    return send(res, 200, {
      name: op.name, done: true,
      response: {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
        generateVideoResponse: { generatedSamples: [{ video: { uri: `${PUBLIC_HOST}/v1beta/files/${op.video}:download?alt=media` } }] },
      },
    });
  }

  m = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/.exec(path);
  if (m && req.method === "POST") {
    const [, model, action] = m;
    const b = json();
    if (action === "generateContent") {
      if (b.cachedContent && !mock.caches.has(b.cachedContent)) return error(res, 403, "CachedContent not found (or permission denied)", "PERMISSION_DENIED");
      const missing = fileRefs(b).find((f) => !mock.files.has(f));
      if (missing) return error(res, 403, `You do not have permission to access the File ${missing} or it may not exist.`, "PERMISSION_DENIED");
      return send(res, 200, {
        candidates: [{ content: { role: "model", parts: [{ text: `seen ${fileRefs(b).length} file(s)${b.cachedContent ? " and a cache" : ""}` }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: { ...USAGE, ...(b.cachedContent ? { cachedContentTokenCount: 4096 } : {}) },
        modelVersion: model,
      });
    }
    if (action === "batchGenerateContent" || action === "asyncBatchEmbedContent") {
      const input = b.batch?.inputConfig ?? b.batch?.input_config ?? {};
      const fileInput = input.fileName ?? input.file_name;
      if (fileInput && !mock.files.has(fileInput)) return error(res, 403, `You do not have permission to access the File ${fileInput}`, "PERMISSION_DENIED");
      const requests = input.requests?.requests as unknown[] | undefined;
      const name = `batches/${id()}`;
      const count = requests?.length ?? (fileInput ? mock.files.get(fileInput)!.content?.toString().trim().split("\n").length ?? 1 : 0);
      const batch: Batch = {
        model: model!, polls: 0, requests, fileInput, embed: action === "asyncBatchEmbedContent",
        op: {
          name,
          metadata: {
            "@type": `type.googleapis.com/google.ai.generativelanguage.v1main.${action === "asyncBatchEmbedContent" ? "EmbedContentBatch" : "GenerateContentBatch"}`,
            model: `models/${model}`, displayName: b.batch?.displayName ?? "", createTime: now(), updateTime: now(),
            batchStats: { requestCount: String(count), pendingRequestCount: String(count) }, state: "BATCH_STATE_PENDING", name,
          },
        },
      };
      mock.batches.set(name, batch);
      return send(res, 200, batch.op);
    }
    if (action === "predictLongRunning") {
      const opId = id();
      const name = `models/${model}/operations/${opId}`;
      mock.operations.set(opId, { name, polls: 0, video: id() });
      return send(res, 200, { name });
    }
  }
  error(res, 404, `no mock route for ${req.method} ${path}`, "NOT_FOUND");
}

/** A resumable upload chunk: offsets checked, bytes counted as they arrive. */
async function chunk(mock: GeminiMock, req: http.IncomingMessage, res: http.ServerResponse, s: Seen, sid: string) {
  const u = mock.uploads.get(sid);
  if (!u) {
    await readAll(req, s);
    return error(res, 404, "upload session not found", "NOT_FOUND");
  }
  const commands = String(req.headers["x-goog-upload-command"] ?? "").split(",").map((c) => c.trim());
  if (commands.includes("query")) {
    res.writeHead(200, { "x-goog-upload-status": "active", "x-goog-upload-size-received": String(u.received) });
    return void res.end();
  }
  if (commands.includes("cancel")) {
    mock.uploads.delete(sid);
    res.writeHead(200, { "x-goog-upload-status": "cancelled" });
    return void res.end();
  }
  if (Number(req.headers["x-goog-upload-offset"]) !== u.received) {
    await readAll(req, s);
    res.writeHead(400, { "x-goog-upload-status": "active", "x-goog-upload-size-received": String(u.received) });
    return void res.end("offset mismatch");
  }
  for await (const c of req) {
    s.bytes += (c as Buffer).length;
    u.received += (c as Buffer).length;
    // Small uploads are kept (a batch input file is read back); large ones only counted.
    if (u.received <= 1024 * 1024) u.chunks.push(c as Buffer);
  }
  if (u.declared >= 0 && u.received > u.declared) {
    res.writeHead(400, { "x-goog-upload-status": "final" });
    return void res.end("more bytes than declared");
  }
  if (!commands.includes("finalize")) {
    res.writeHead(200, { "x-goog-upload-status": "active" });
    return void res.end();
  }
  mock.uploads.delete(sid);
  const content = u.received <= 1024 * 1024 ? Buffer.concat(u.chunks) : undefined;
  const mime = String(u.meta.file?.mimeType ?? "application/octet-stream");
  send(res, 200, { file: newFile(mock, u.meta.file ?? {}, u.received, mime, "UPLOADED", content) }, { "x-goog-upload-status": "final" });
}

/** A generated file's bytes in 64 KiB chunks; the last waits for `downloadGate` when one is set. */
async function serveBytes(mock: GeminiMock, res: http.ServerResponse, f: (FileObj & { content?: Buffer }) | undefined) {
  if (!f?.content) return error(res, 404, "not found", "NOT_FOUND");
  res.writeHead(200, { "content-type": f.mimeType, "content-length": String(f.content.length) });
  const size = 65536;
  for (let i = 0; i < f.content.length; i += size) {
    if (i + size >= f.content.length && mock.downloadGate) await mock.downloadGate;
    res.write(f.content.subarray(i, i + size));
  }
  res.end();
}

function fileRefs(b: unknown): string[] {
  const out: string[] = [];
  JSON.stringify(b, (k, v) => {
    if (k === "fileUri" && typeof v === "string" && v.includes("/files/")) out.push(`files/${v.split("/files/")[1]}`);
    return v;
  });
  return out;
}

/** Each poll moves a batch one step: PENDING → RUNNING → SUCCEEDED (after `pollsToFinish` polls). */
function advance(mock: GeminiMock, b: Batch) {
  if (b.op.done) return;
  b.polls++;
  if (b.polls >= mock.pollsToFinish) finishBatch(mock, b, "BATCH_STATE_SUCCEEDED");
  else b.op.metadata.state = "BATCH_STATE_RUNNING";
}

function finishBatch(mock: GeminiMock, b: Batch, state: string) {
  if (b.op.done) return;
  const md = b.op.metadata;
  md.state = state;
  md.updateTime = md.endTime = now();
  const cancelled = state !== "BATCH_STATE_SUCCEEDED";
  const count = Number(md.batchStats.requestCount);
  md.batchStats = { requestCount: String(count), successfulRequestCount: String(cancelled ? 0 : count) };
  const answer = (i: number) =>
    b.embed
      ? { response: { embedding: { values: [0.1, 0.2, i] } }, metadata: { key: `r${i}` } }
      : { response: { candidates: [{ content: { role: "model", parts: [{ text: `answer ${i}` }] }, finishReason: "STOP" }], usageMetadata: USAGE }, metadata: { key: `r${i}` } };
  let output: Record<string, unknown>;
  if (cancelled) output = {};
  else if (b.fileInput) {
    const lines = Array.from({ length: count }, (_, i) => JSON.stringify({ key: `r${i}`, ...answer(i) })).join("\n") + "\n";
    const f = newFile(mock, { name: `files/batch-${id()}` }, Buffer.byteLength(lines), "application/jsonl", "GENERATED", Buffer.from(lines));
    output = { responsesFile: f.name };
  } else if (b.embed) output = { inlinedEmbedContentResponses: { inlinedResponses: b.requests!.map((_, i) => answer(i)) } };
  else output = { inlinedResponses: { inlinedResponses: b.requests!.map((_, i) => answer(i)) } };
  md.output = output;
  b.op.done = true;
  b.op.response = { "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput", ...output };
}

/**
 * A fresh loopback Gemini and a gateway in front of it (uploads up to `maxUpload` bytes); `newKey` makes a virtual
 * key with a real @google/genai client pointed at the gateway; `close` stops both.
 */
export async function gatewayWithGemini(maxUpload: number) {
  const gemini = await geminiMock();
  const gw = await startGateway({ GEMINI_API_KEY: gemini.key, GEMINI_BASE_URL: gemini.url, MAX_UPLOAD_BYTES: String(maxUpload) });
  const sdk = (key: string) => new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai` } });
  return {
    gemini, gw, sdk,
    async newKey(fields: Record<string, unknown> = {}) {
      const k = await gw.createKey({ name: "resources", ...fields });
      return { ...k, ai: sdk(k.key) };
    },
    async close() {
      await gw.stop();
      await gemini.close();
    },
  };
}

/** Every item of an SDK pager, page after page. */
export async function all<T>(pager: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of pager) out.push(x);
  return out;
}
