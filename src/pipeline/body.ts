/** Reads and validates the JSON body with a size cap, without trusting Content-Length alone. */
import { badRequest, GatewayError } from "../gemini/errors";
import { fileUriProblem } from "../gemini/file-uri";
import { FIELDS_BY_KEY, type ResourceField } from "../gemini/resource-fields";
import { describeIssues, GATEWAY_FIELDS, REQUEST_SCHEMAS, type Action, type RequestBody } from "../gemini/schema";
import { canonicalJson } from "../lib/canonical-json";

export async function readJson(req: Request, maxBytes: number): Promise<unknown> {
  return parseJson(await readBodyText(req, maxBytes));
}

/** The body's text, at most `maxBytes` of it (413 past that; 400 when there is none). */
export async function readBodyText(req: Request, maxBytes: number): Promise<string> {
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
  return text;
}

function parseJson(text: string): unknown {
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

/**
 * Every cache and file a body names, wherever it sits (both spellings of each): `cachedContent`, and the file URIs
 * and names of src/gemini/resource-fields.ts (`fileData.fileUri`, a Veo `video.uri`, `gcsUri`, a batch's
 * `inputConfig.fileName`).
 */
export interface BodyReferences {
  caches: string[];
  fileUris: string[];
}

export function validateBody(action: Action, json: unknown): ParsedBody {
  if (!json || typeof json !== "object" || Array.isArray(json)) throw badRequest("request body must be a JSON object");
  const references = inspectBody(json);
  const r = REQUEST_SCHEMAS[action].safeParse(json);
  if (!r.success) throw badRequest(`invalid ${action} request: ${describeIssues(r.error.issues)}`);
  const body = r.data as RequestBody;
  return { body, fallbacks: withoutGatewayFields(action, body), references };
}

/** Takes the gateway's own fields out of a body (and a batch's requests); returns its `fallbacks`. */
function withoutGatewayFields(action: Action, body: RequestBody): string[] | undefined {
  const fallbacks = (body as { fallbacks?: string[] }).fallbacks;
  for (const f of GATEWAY_FIELDS) delete (body as Record<string, unknown>)[f];
  if (action === "batchEmbedContents") {
    for (const sub of (body as { requests: Record<string, unknown>[] }).requests) for (const f of GATEWAY_FIELDS) delete sub[f];
  }
  return fallbacks;
}

/** A model action's body: validated, its canonical form computed once when asked, and `keep` (see `known`). */
export interface CallBody extends ParsedBody {
  canonical(): string;
  /** The call was answered without its upstream (a cache hit, a guardrail's block): its text is likely sent again. */
  keep(): void;
}

/**
 * Texts lately answered without the upstream, by exact text: validation is a function of the action and the text
 * alone, so a text seen valid skips the schema check and the walk the next time, and keeps its canonical form (a
 * cache hit's key). Only the verdict is kept, never an answer: nothing here belongs to a key. Filled only by `keep`,
 * so calls whose bodies do not repeat never add to it (or to the GC's work); bounded in entries and characters,
 * oldest out first.
 */
interface Known {
  action: Action;
  fallbacks?: readonly string[];
  references: BodyReferences;
  canonical?: string;
}
export const knownLimits = { entries: 1024, chars: 4 * 1024 * 1024, textMax: 32 * 1024 };
const known = new Map<string, Known>();
let knownChars = 0;

/** Empties the known texts (tests). */
export function forgetKnownBodies(): void {
  known.clear();
  knownChars = 0;
}

/** A model action's body from its text: a known text is parsed only; any other is validated in full. */
export function validateText(action: Action, text: string): CallBody {
  // No lookup (no hash of the text) while nothing is known, nor for a text too long to be kept.
  const k = known.size && text.length <= knownLimits.textMax ? known.get(text) : undefined;
  if (k && k.action === action) {
    const body = parseJson(text) as RequestBody;
    withoutGatewayFields(action, body);
    return {
      body, fallbacks: k.fallbacks as string[] | undefined, references: k.references,
      canonical: () => (k.canonical ??= canonicalJson(body)),
      keep: () => {},
    };
  }
  const parsed = validateBody(action, parseJson(text));
  let canonical: string | undefined;
  return {
    ...parsed,
    canonical: () => (canonical ??= canonicalJson(parsed.body)),
    keep: () => {
      if (known.has(text) || text.length > knownLimits.textMax) return;
      // Kept only when the text parsed alone is what the schema's copy is (a `__proto__` key, however spelled, is an
      // own field of JSON.parse's object but not of the copy): a known text's call must be the one checked in full.
      const alone = parseJson(text) as RequestBody;
      withoutGatewayFields(action, alone);
      if (canonicalJson(alone) !== (canonical ??= canonicalJson(parsed.body))) return;
      known.set(text, {
        action,
        fallbacks: parsed.fallbacks && Object.freeze([...parsed.fallbacks]),
        references: Object.freeze({ caches: Object.freeze([...parsed.references.caches]), fileUris: Object.freeze([...parsed.references.fileUris]) }) as BodyReferences,
        canonical,
      });
      knownChars += text.length;
      for (const [t] of known) {
        if (known.size <= knownLimits.entries && knownChars <= knownLimits.chars) break;
        known.delete(t);
        knownChars -= t.length;
      }
    },
  };
}

/** Deeper than this is refused (protobuf's JSON parser, behind Google's APIs, stops at the same depth). */
export const MAX_DEPTH = 100;

/**
 * One walk over the whole body, iterative (recursion would overflow on a body built to nest deeply), before any
 * provider sees it: a nesting depth no real request needs is a 400, and so is every file URI the gateway must not
 * pass on (src/gemini/file-uri.ts), wherever it sits (nested parts, unknown fields, snake_case included). The same
 * walk collects the resources the body names (src/gemini/resource-fields.ts: files and caches, which only their
 * owner may use), and refuses the fields naming resources the gateway does not track yet.
 */
export function inspectBody(body: object): BodyReferences {
  const refs: BodyReferences = { caches: [], fileUris: [] };
  const stack: [unknown, number, string][] = [[body, 1, ""]];
  while (stack.length) {
    const [v, depth, parent] = stack.pop()!;
    if (depth > MAX_DEPTH) throw badRequest(`request body nests deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(v)) {
      // An array's items sit where the array does (`referenceImages: [{image}]`).
      for (const x of v) if (x && typeof x === "object") stack.push([x, depth + 1, parent]);
      continue;
    }
    const o = v as Record<string, unknown>;
    for (const k in o) {
      const x = o[k];
      const fields = FIELDS_BY_KEY.get(k);
      if (fields) for (const f of fields) if (!f.under || f.under.includes(parent)) useField(f, x, refs);
      if (x && typeof x === "object") stack.push([x, depth + 1, k]);
    }
  }
  return refs;
}

/** A field naming a resource: collected for the ownership check, SSRF-checked as a URI, or refused (not tracked). */
function useField(f: ResourceField, x: unknown, refs: BodyReferences): void {
  const { use } = f;
  if (use.kind === "untracked") {
    const named = typeof x === "string" ? x.trim() !== "" && (!f.when || f.when.test(x)) : !f.when && x !== null && x !== undefined && !(Array.isArray(x) && !x.length);
    if (named) throw badRequest(`${f.field} names ${use.what}, which the gateway does not track yet: a request naming them is refused`);
    return;
  }
  if (typeof x !== "string") return;
  if (use.kind === "cache") refs.caches.push(x);
  else if (use.kind === "fileName") refs.fileUris.push(x);
  else {
    // Both spellings of a field are checked: which one a provider reads when a part carries both is not ours to guess.
    const problem = fileUriProblem(x);
    if (problem) throw badRequest(`${f.field} "${x.slice(0, 200)}" is refused: it ${problem}`);
    refs.fileUris.push(x);
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
