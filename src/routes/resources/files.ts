/**
 * The Files API: resumable upload exactly as the SDKs do it (start, then `upload`/`upload, finalize` chunks at the
 * URL the start answer names), multipart and media uploads, list, get, delete, and download of generated files.
 * Upload and download bodies stream through; nothing is buffered.
 */
import { badRequest, GatewayError } from "../../gemini/errors";
import { readJson } from "../../pipeline/body";
import { LineScanner, type LineScan } from "../../resources/line-scan";
import { meter, type Meter } from "../../resources/meter";
import { ownerOf } from "../../resources/store";
import { readJsonObject } from "../../resources/upstream";
import { UploadStore } from "../../resources/uploads";
import { json, notFoundError, type ResourceCall } from "./call";
import { keepCreated } from "./created";
import { listOwn, readOwn } from "./listing";

/** The metadata part of a resumable start: small JSON (`{file: {displayName, mimeType, ...}}`). */
const MAX_METADATA_BYTES = 64 * 1024;
/** A multipart upload's metadata part and boundaries, on top of the file's bytes. */
const MULTIPART_SLACK = 64 * 1024;

/**
 * A chunk this big (or the last one, completing the size declared at the start) rides on its upload's start for
 * admission: Google's resumable protocol sends chunks in multiples of 256 KiB, so a real upload of n bytes sends at
 * most n / 256 KiB + 1 chunks, and each free request upstream carries 256 KiB the caller sent. Any other chunk, and
 * a `query`, take a request slot of their own: no upload is a way to call upstream without limit.
 */
export const MIN_FREE_CHUNK = 256 * 1024;

/** What of an upload answer's headers the caller sees: never the provider's upload URL. */
const UPLOAD_HEADERS = ["x-goog-upload-status", "x-goog-upload-size-received", "x-goog-upload-chunk-granularity"];

/** POST /genai/upload/{v}/files: a resumable start, or a whole multipart (or media) upload. */
export async function uploadStart(call: ResourceCall): Promise<Response> {
  const { req, url } = call;
  const protocol = (req.headers.get("x-goog-upload-protocol") ?? url.searchParams.get("uploadType") ?? "").toLowerCase();
  if (protocol === "resumable") return resumableStart(call);
  if (protocol === "multipart" || protocol === "media" || protocol === "raw") return wholeUpload(call, protocol);
  throw badRequest("an upload needs X-Goog-Upload-Protocol: resumable or multipart (or ?uploadType=resumable|multipart|media)");
}

async function resumableStart(call: ResourceCall): Promise<Response> {
  const { req, settings } = call;
  const command = (req.headers.get("x-goog-upload-command") ?? "").trim().toLowerCase();
  if (command !== "start") throw badRequest('a resumable upload begins with X-Goog-Upload-Command: start');
  const declared = declaredSize(req.headers.get("x-goog-upload-header-content-length"), settings.maxUploadBytes);
  const metadata = req.body && req.headers.get("content-length") !== "0" ? await readJson(req, MAX_METADATA_BYTES) : {};
  if (!metadata || typeof metadata !== "object" || Array.isArray(metadata)) throw badRequest("upload metadata must be a JSON object");
  await call.admit();

  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-goog-upload-protocol": "resumable",
    "x-goog-upload-command": "start",
  };
  for (const h of ["x-goog-upload-header-content-length", "x-goog-upload-header-content-type", "x-goog-upload-file-name"]) {
    const v = req.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  const res = await call.upstream.call(`upload/${call.version}/files`, { method: "POST", headers, body: JSON.stringify(metadata), signal: req.signal });
  const upstreamUrl = res.headers.get("x-goog-upload-url");
  await res.body?.cancel();
  if (!upstreamUrl || !parsesAsUrl(upstreamUrl)) throw new GatewayError(502, "gemini: the upload start answer named no upload URL");

  const id = await new UploadStore(call.c.env.DB).open(ownerOf(call.key), upstreamUrl, declared);
  const mine = `${call.url.origin}/genai/upload/${call.version}/files?upload_id=${id}&upload_protocol=resumable`;
  const out = new Headers({ "x-goog-upload-url": mine, "x-goog-upload-status": "active" });
  copyHeaders(res.headers, out, ["x-goog-upload-chunk-granularity"]);
  return new Response(null, { status: 200, headers: out });
}

/** POST /genai/upload/{v}/files?upload_id=…: one chunk (`upload`, `upload, finalize`), or `query` / `cancel`. */
export async function uploadChunk(call: ResourceCall, id: string): Promise<Response> {
  const { req, settings } = call;
  const uploads = new UploadStore(call.c.env.DB);
  const session = await uploads.get(id, call.key.id);
  // Another key's, expired, finished or made up: all the same to the caller.
  if (!session) throw notFoundError("upload session");
  const commands = new Set((req.headers.get("x-goog-upload-command") ?? "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean));
  const known = ["upload", "finalize", "query", "cancel"];
  if (!commands.size || [...commands].some((c) => !known.includes(c))) {
    throw badRequest(`X-Goog-Upload-Command must be upload, finalize, "upload, finalize", query or cancel`);
  }
  const length = contentLength(req);
  // The last chunk rides only when it completes the size declared at the start (so it is sent once, and accepted).
  const completes = commands.has("finalize") && length !== undefined && session.declared !== null && session.received + length === session.declared;
  const rides = commands.has("cancel") || (commands.has("upload") && ((length ?? 0) >= MIN_FREE_CHUNK || completes));
  if (!rides) await call.admit();

  const headers: Record<string, string> = { "x-goog-upload-command": [...commands].join(", ") };
  let body: ReadableStream<Uint8Array> | null = null;
  let metered: Meter | undefined;
  let scanner: LineScanner | undefined;
  const offset = session.received;
  if (commands.has("upload")) {
    const given = Number(req.headers.get("x-goog-upload-offset"));
    if (!Number.isInteger(given) || given !== offset) {
      throw badRequest(`X-Goog-Upload-Offset must be ${offset}, the bytes received so far`);
    }
    const room = (session.declared ?? settings.maxUploadBytes) - offset;
    if (length !== undefined && length > room) throw tooLarge(session.declared ?? settings.maxUploadBytes);
    headers["x-goog-upload-offset"] = String(offset);
    if (req.body) {
      scanner = new LineScanner(settings.fileHosts, session.scan, session.carry);
      metered = meter(req.body, room, session.ends_nl === 1, length, req.signal, scanner);
      body = metered.stream;
    }
  }
  let res: Response;
  try {
    res = await call.upstream.send(session.upstream_url, { method: "POST", headers, body, signal: metered?.signal ?? req.signal });
  } catch (e) {
    if (metered?.over) throw tooLarge(session.declared ?? settings.maxUploadBytes);
    throw e;
  }
  // However the upstream took a stream cut short, it is not an upload.
  if (metered?.over) {
    await res.body?.cancel();
    throw tooLarge(session.declared ?? settings.maxUploadBytes);
  }
  if (metered) await uploads.advance(session, offset, metered.bytes, metered.lines, metered.endsNl, scanner!.save());

  const out = new Headers();
  copyHeaders(res.headers, out, UPLOAD_HEADERS);
  if (commands.has("cancel")) await uploads.close(id);
  if (out.get("x-goog-upload-status") !== "final") {
    const text = await res.text();
    if (text) out.set("content-type", res.headers.get("content-type") ?? "application/json");
    return new Response(text || null, { status: res.status, headers: out });
  }
  const answer = await readJsonObject<{ file?: { name?: unknown } }>(res);
  const bytes = offset + (metered?.bytes ?? 0);
  const endsNl = metered ? metered.endsNl : session.ends_nl === 1;
  // A finalize without bytes: the record so far (and its unfinished line) is the file's.
  const scan = (scanner ?? new LineScanner(settings.fileHosts, session.scan, session.carry)).finish();
  await recordFile(call, answer.file, bytes, session.lines + (metered?.lines ?? 0) + (bytes && !endsNl ? 1 : 0), scan);
  await uploads.close(id);
  out.set("content-type", "application/json; charset=utf-8");
  return new Response(JSON.stringify(answer), { status: res.status, headers: out });
}

/** A multipart (metadata + bytes) or media (bytes only) upload in one request, streamed through. */
async function wholeUpload(call: ResourceCall, protocol: string): Promise<Response> {
  const { req, settings } = call;
  const limit = settings.maxUploadBytes + (protocol === "multipart" ? MULTIPART_SLACK : 0);
  const length = contentLength(req);
  if (length !== undefined && length > limit) throw tooLarge(settings.maxUploadBytes);
  if (!req.body) throw badRequest("the upload has no body");
  await call.admit();
  const headers: Record<string, string> = {};
  for (const h of ["content-type", "x-goog-upload-protocol", "x-goog-upload-header-content-type", "x-goog-upload-file-name"]) {
    const v = req.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  const scanner = new LineScanner(settings.fileHosts);
  const metered = meter(req.body, limit, true, length, req.signal, scanner);
  const query = call.url.searchParams.get("uploadType") ? `?uploadType=${encodeURIComponent(protocol)}` : "";
  let res: Response;
  try {
    res = await call.upstream.call(`upload/${call.version}/files${query}`, { method: "POST", headers, body: metered.stream, signal: metered.signal });
  } catch (e) {
    if (metered.over) throw tooLarge(settings.maxUploadBytes);
    throw e;
  }
  if (metered.over) {
    await res.body?.cancel();
    throw tooLarge(settings.maxUploadBytes);
  }
  const answer = await readJsonObject<{ file?: { name?: unknown } }>(res);
  await recordFile(call, answer.file, metered.bytes, metered.lines + (metered.bytes && !metered.endsNl ? 1 : 0), scanner.finish());
  return json(answer, res.status);
}

/** The uploaded file is its uploader's, with what its lines name (read as it streamed through: a batch input's check). */
async function recordFile(call: ResourceCall, file: { name?: unknown } | undefined, bytes: number, lines: number, scan: LineScan): Promise<void> {
  const name = file?.name;
  if (typeof name !== "string" || !/^files\/[A-Za-z0-9_-]{1,128}$/.test(name)) {
    throw new GatewayError(502, "gemini: the upload's answer names no file");
  }
  await keepCreated(call, "file", name, () => call.store.create(ownerOf(call.key), { name, kind: "file", size_bytes: bytes, lines, meta: JSON.stringify({ scan }) }));
}

export const listFiles = (call: ResourceCall) => listOwn(call, "file", "files");

export async function getFile(call: ResourceCall, id: string): Promise<Response> {
  return json(await readOwn(call, await ownFile(call, id)));
}

export async function deleteFile(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownFile(call, id);
  const answer = await call.upstream.json(`${call.version}/${row.name}`, { method: "DELETE", signal: call.req.signal });
  await call.store.setState(row.name, "deleted");
  return json(answer);
}

/** GET files/{id}:download: a generated file (a video, a batch's responses), streamed from the upstream. */
export async function downloadFile(call: ResourceCall, id: string): Promise<Response> {
  const row = await ownFile(call, id);
  const res = await call.upstream.download(`${call.version}/${row.name}:download?alt=media`, { method: "GET", signal: call.req.signal });
  const headers = new Headers();
  copyHeaders(res.headers, headers, ["content-type", "content-disposition"]);
  if (!res.body) return new Response(null, { status: res.status, headers });
  const ended = call.deferRecord();
  const body = watchEnd(res.body, ended, call);
  // A known length goes on to the client (the runtime then holds the stream to exactly that many bytes).
  const length = Number(res.headers.get("content-length") ?? NaN);
  const sized = Number.isSafeInteger(length) && length >= 0 ? body.pipeThrough(new FixedLengthStream(length)) : body;
  return new Response(sized, { status: res.status, headers });
}

/**
 * Passes a body through chunk by chunk and says how it ended: read to the end, broken upstream, or cancelled by a
 * client that went away (then the upstream is cancelled too). The request stays alive until it has ended.
 */
function watchEnd(body: ReadableStream<Uint8Array>, ended: (outcome: "ok" | "error" | "aborted", error: string | null) => void, call: ResourceCall) {
  const reader = body.getReader();
  let done!: () => void;
  call.scope.waitUntil(new Promise<void>((r) => (done = r)));
  const end = (outcome: "ok" | "error" | "aborted", error: string | null) => {
    ended(outcome, error);
    done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          c.close();
          end("ok", null);
        } else c.enqueue(value);
      } catch (e) {
        c.error(e);
        end("error", "gemini: the download broke off");
      }
    },
    async cancel() {
      await reader.cancel().catch(() => {});
      end("aborted", "client went away");
    },
  });
}

async function ownFile(call: ResourceCall, id: string) {
  const row = await call.store.find(call.key, "file", `files/${id}`);
  if (!row) throw notFoundError(`file "files/${id}"`);
  return row;
}

function parsesAsUrl(s: string): boolean {
  try {
    return !!new URL(s);
  } catch {
    return false;
  }
}

function declaredSize(raw: string | null, max: number): number | null {
  if (raw === null) return null;
  const n = Number(raw);
  if (!/^\d{1,16}$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw badRequest("X-Goog-Upload-Header-Content-Length must be a byte count");
  if (n > max) throw tooLarge(max);
  return n;
}

function contentLength(req: Request): number | undefined {
  const raw = req.headers.get("content-length");
  if (raw === null) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

const tooLarge = (max: number) => new GatewayError(413, `upload exceeds ${max} bytes (MAX_UPLOAD_BYTES, or the size declared at its start)`);

function copyHeaders(from: Headers, to: Headers, names: readonly string[]): void {
  for (const h of names) {
    const v = from.get(h);
    if (v !== null) to.set(h, v);
  }
}
