/** Reads and validates the JSON body with a size cap, without trusting Content-Length alone. */
import { badRequest, GatewayError } from "../gemini/errors";
import { fileUriProblem } from "../gemini/file-uri";
import { describeIssues, GATEWAY_FIELDS, REQUEST_SCHEMAS, type Action, type RequestBody } from "../gemini/schema";

export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new GatewayError(413, `request body exceeds the ${maxBytes}-byte limit`);
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (!req.body) throw badRequest("request body is required");
  // With a declared length within the cap the runtime enforces that length, so one native read is safe;
  // without one (chunked upload) count bytes as they arrive and stop at the cap.
  let text: string;
  if (declared !== null) text = await req.text();
  else {
    const read = await readText(req.body, maxBytes);
    if (read.over) throw tooLarge();
    text = read.text;
  }
  if (!text.trim()) throw badRequest("request body is required");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`invalid JSON payload: ${(e as Error).message}`);
  }
}

/**
 * Reads a body as text, at most `maxBytes` of it: past that it stops reading, cancels the rest and says so (`over`).
 * Each chunk is decoded as it arrives, so no second copy of the bytes is ever assembled.
 */
export async function readText(body: ReadableStream<Uint8Array>, maxBytes: number): Promise<{ text: string; over: boolean }> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text: text + decoder.decode(), over: false };
    if (size + value.byteLength > maxBytes) {
      text += decoder.decode(value.subarray(0, maxBytes - size));
      await reader.cancel().catch(() => {});
      return { text, over: true };
    }
    size += value.byteLength;
    text += decoder.decode(value, { stream: true });
  }
}

export interface ParsedBody {
  /** What goes to the provider: the caller's body minus the gateway's own fields. */
  body: RequestBody;
  fallbacks?: string[];
  /** The cached contents and file URIs it names, for the ownership check (src/resources/references.ts). */
  references: BodyReferences;
}

/** Every `cachedContent` and `fileData` URI a body names, wherever it sits (both spellings of each). */
export interface BodyReferences {
  caches: string[];
  fileUris: string[];
}

export function validateBody(action: Action, json: unknown): ParsedBody {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw badRequest("request body must be a JSON object");
  const references = inspectBody(json);
  const r = REQUEST_SCHEMAS[action].safeParse(json);
  if (!r.success) throw badRequest(`invalid ${action} request: ${describeIssues(r.error.issues)}`);
  const body = r.data as RequestBody & { fallbacks?: string[] };
  const fallbacks = body.fallbacks;
  for (const f of GATEWAY_FIELDS) delete (body as Record<string, unknown>)[f];
  if (action === "batchEmbedContents") {
    for (const sub of (body as { requests: Record<string, unknown>[] }).requests) for (const f of GATEWAY_FIELDS) delete sub[f];
  }
  return { body, fallbacks, references };
}

/** Deeper than this is refused (protobuf's JSON parser, behind Google's APIs, stops at the same depth). */
export const MAX_DEPTH = 100;

/**
 * One walk over the whole body, iterative (recursion would overflow on a body built to nest deeply), before any
 * provider sees it: a nesting depth no real request needs is a 400, and so is every `fileData` URI the gateway must
 * not pass on (src/gemini/file-uri.ts), wherever it sits (nested parts, unknown fields, snake_case included). The
 * same walk collects the resources the body names, which only their owner may use.
 */
export function inspectBody(body: object): BodyReferences {
  const refs: BodyReferences = { caches: [], fileUris: [] };
  const stack: [unknown, number][] = [[body, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (depth > MAX_DEPTH) throw badRequest(`request body nests deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(v)) {
      for (const x of v) if (x && typeof x === "object") stack.push([x, depth + 1]);
      continue;
    }
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      if ((k === "cachedContent" || k === "cached_content") && typeof x === "string") refs.caches.push(x);
      if (!x || typeof x !== "object") continue;
      if (k === "fileData" || k === "file_data") checkFileData(x as Record<string, unknown>, refs);
      stack.push([x, depth + 1]);
    }
  }
  return refs;
}

/** Both spellings are checked: which one a provider reads when a part carries both is not ours to guess. */
function checkFileData(f: Record<string, unknown>, refs: BodyReferences): void {
  for (const uri of [f.fileUri, f.file_uri]) {
    if (typeof uri !== "string") continue;
    const problem = fileUriProblem(uri);
    if (problem) throw badRequest(`fileData.fileUri "${uri.slice(0, 200)}" is refused: it ${problem}`);
    refs.fileUris.push(uri);
  }
}

/** A body this small is read to its end before an early answer (see `discardUnread`); a larger one is not. */
const DISCARD_MAX_BYTES = 64 * 1024;

/**
 * Reads away a small request body the handler never read (a refusal answered from the path and headers), so the
 * runtime can keep the client's connection open for its next request; a body left unread makes it close the
 * connection under a client that may already be reusing it. Large or undeclared bodies are left alone: reading
 * them would be the work the early answer saved.
 */
export async function discardUnread(req: Request): Promise<void> {
  // A client that waits for `100 Continue` has not sent its body yet, and needs no reading away.
  if (!req.body || req.bodyUsed || req.headers.has("expect")) return;
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (!(declared >= 0 && declared <= DISCARD_MAX_BYTES)) return;
  await req.arrayBuffer().catch(() => {});
}
