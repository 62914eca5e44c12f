/**
 * The first client message of a Live session, `{"setup": {...}}`: which model, and (for a session opened with an
 * ephemeral token) the fields the token locks. Field names are read in either spelling the Gemini API accepts
 * (`generation_config` or `generationConfig`) and sent on in camelCase, so a lock cannot be stepped around by
 * spelling a field the other way.
 */
import { badRequest } from "../gemini/errors";
import { parseTarget, printable, type Target } from "../lib/target";

export type Setup = Record<string, unknown> & { model?: unknown; sessionResumption?: { handle?: unknown } };

/** What an ephemeral token fixes: a setup, and which of its fields are locked (none listed: all of them). */
export interface SetupLock {
  setup?: Setup;
  fieldMask?: string[];
}

const FIELD_PATH_RE = /^[A-Za-z][A-Za-z0-9_]{0,63}(\.[A-Za-z][A-Za-z0-9_]{0,63}){0,3}$/;

/** A frame's text (a JSON message may come as a text or a binary frame). */
export function frameText(data: string | ArrayBuffer): string {
  return typeof data === "string" ? data : new TextDecoder().decode(data);
}

/**
 * Whether the JSON text may have `key` as a field name. Cheap enough for every frame: audio and video travel as
 * base64, which has no quotes, so only frames that name the field are parsed.
 */
export const names = (text: string, key: string) => text.includes(`"${key}"`);

/**
 * An escape that spells an ASCII character (`\u0055` is `U`; `\x55` to a lenient parser): the only kind that can
 * hide a field name from a search. Serializers escape non-ASCII text (`\u00e9`, `\u3042`) and control characters,
 * which this leaves alone.
 */
export const ASCII_ESCAPE = /\\(?:[uU]00|x)[2-7][0-9a-fA-F]/;

/**
 * Whether a client's frame may have one of `keys` as a field name to whatever parses it upstream: it holds one,
 * quoted or bare (a lenient parser takes `{setup: ...}`), or an ASCII escape (`"s\u0065tup"` parses as `"setup"`).
 * A frame this finds nothing in holds none of them, however spelled.
 */
export const mayName = (text: string, keys: readonly string[]) => keys.some((k) => text.includes(k)) || ASCII_ESCAPE.test(text);

/** The client's setup message, with its fields in camelCase; a 400 for anything else. */
export function parseSetupMessage(text: string): { message: Record<string, unknown>; setup: Setup } {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw badRequest("the first message of a Live session must be a JSON setup message");
  }
  if (!isObject(message) || !isObject(message.setup)) {
    throw badRequest('the first message of a Live session must be {"setup": {"model": ...}}');
  }
  return { message, setup: normalizeSetup(message.setup) };
}

/** Field names in camelCase at the two levels a lock can name (more would be unusual), a 400 for a duplicate. */
export function normalizeSetup(setup: Record<string, unknown>, depth = 2): Setup {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(setup)) {
    // camel() never yields "__proto__" (it rewrites "_p"), so this assignment only ever adds a field.
    const name = camel(k);
    if (Object.hasOwn(out, name)) throw badRequest(`setup field "${printable(name, 100)}" is given twice (once in snake_case)`);
    out[name] = depth > 1 && isObject(v) ? normalizeSetup(v, depth - 1) : v;
  }
  return out;
}

/** The model a setup names, canonical (`gemini/...`); a 400 when it names none or a malformed one. */
export function setupModel(setup: Setup): Target {
  if (typeof setup.model !== "string" || !setup.model) throw badRequest('setup.model is required (e.g. "models/gemini-live-2.5-flash-preview")');
  return parseTarget(setup.model);
}

/**
 * The setup a token's session runs with. A token with a setup and no field mask fixes the whole setup; with a mask,
 * the masked fields take the token's values (or are removed, where the token has none) and the rest are the
 * client's. A resumption handle is always the client's: resuming is about the connection, not the configuration.
 */
export function lockSetup(client: Setup, lock: SetupLock | undefined): Setup {
  if (!lock || (!lock.setup && !lock.fieldMask?.length)) return client;
  let out: Setup;
  if (!lock.fieldMask?.length) {
    out = structuredClone(lock.setup!);
  } else {
    out = structuredClone(client);
    for (const path of lock.fieldMask) {
      const v = getPath(lock.setup ?? {}, path);
      if (v === undefined) deletePath(out, path);
      else setPath(out, path, structuredClone(v));
    }
  }
  const handle = client.sessionResumption?.handle;
  if (handle !== undefined) out.sessionResumption = { ...(isObject(out.sessionResumption) ? out.sessionResumption : {}), handle };
  else if (isObject(out.sessionResumption)) delete out.sessionResumption.handle;
  return out;
}

/** A field mask as the SDK sends it (`"model,generationConfig.temperature"`), checked and in camelCase. */
export function parseFieldMask(mask: string | string[]): string[] {
  const parts = (Array.isArray(mask) ? mask : mask.split(",")).map((p) => p.trim()).filter(Boolean);
  if (parts.length > 100) throw badRequest("fieldMask: at most 100 fields");
  return parts.map((p) => {
    if (!FIELD_PATH_RE.test(p)) throw badRequest(`fieldMask: "${printable(p, 100)}" is not a field path`);
    return p.split(".").map(camel).join(".");
  });
}

/** The setup as the upstream wants it: the provider's own model name. */
export function upstreamSetup(setup: Setup, target: Target): Setup {
  return { ...setup, model: `models/${target.model}` };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function getPath(o: Record<string, unknown>, path: string): unknown {
  let cur: unknown = o;
  for (const seg of path.split(".")) {
    if (!isObject(cur) || !Object.hasOwn(cur, seg)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const segs = path.split(".");
  let cur = o;
  for (const seg of segs.slice(0, -1)) {
    if (!isObject(cur[seg])) cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[segs[segs.length - 1]!] = value;
}

function deletePath(o: Record<string, unknown>, path: string): void {
  const segs = path.split(".");
  let cur: unknown = o;
  for (const seg of segs.slice(0, -1)) {
    if (!isObject(cur)) return;
    cur = cur[seg];
  }
  if (isObject(cur)) delete cur[segs[segs.length - 1]!];
}
