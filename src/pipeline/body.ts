/** Reads and validates the JSON body with a size cap, without trusting Content-Length alone. */
import { badRequest, GatewayError } from "../gemini/errors";
import { describeIssues, GATEWAY_FIELDS, REQUEST_SCHEMAS, type Action, type RequestBody } from "../gemini/schema";

export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new GatewayError(413, `request body exceeds the ${maxBytes}-byte limit`);
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > maxBytes) throw tooLarge();
  if (!req.body) throw badRequest("request body is required");
  // With a declared length within the cap the runtime enforces that length, so one native read is safe;
  // without one (chunked upload) count bytes as they arrive and stop at the cap.
  const text = declared !== null ? await req.text() : new TextDecoder().decode(await readCapped(req.body, maxBytes, tooLarge));
  if (!text.trim()) throw badRequest("request body is required");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`invalid JSON payload: ${(e as Error).message}`);
  }
}

async function readCapped(body: ReadableStream<Uint8Array>, maxBytes: number, tooLarge: () => Error): Promise<Uint8Array> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.byteLength;
  }
  return bytes;
}

export interface ParsedBody {
  /** What goes to the provider: the caller's body minus the gateway's own fields. */
  body: RequestBody;
  fallbacks?: string[];
}

export function validateBody(action: Action, json: unknown): ParsedBody {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw badRequest("request body must be a JSON object");
  const r = REQUEST_SCHEMAS[action].safeParse(json);
  if (!r.success) throw badRequest(`invalid ${action} request: ${describeIssues(r.error.issues)}`);
  const body = r.data as RequestBody & { fallbacks?: string[] };
  const fallbacks = body.fallbacks;
  for (const f of GATEWAY_FIELDS) delete (body as Record<string, unknown>)[f];
  if (action === "batchEmbedContents") {
    for (const sub of (body as { requests: Record<string, unknown>[] }).requests) for (const f of GATEWAY_FIELDS) delete sub[f];
  }
  return { body, fallbacks };
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
  if (!req.body || req.bodyUsed) return;
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (!(declared >= 0 && declared <= DISCARD_MAX_BYTES)) return;
  await req.arrayBuffer().catch(() => {});
}
