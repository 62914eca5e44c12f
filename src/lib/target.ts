/**
 * `provider/model` strings: what the path, `fallbacks`, key defaults and allow-lists name. Every one is parsed here
 * into its canonical form, the one string that allow-lists, prices, routing and usage rows all use.
 */
import { badRequest } from "../gemini/errors";

export interface Target {
  provider: string;
  model: string;
}

/** The most targets one call may try: the path's model and at most 7 fallbacks (a request's or a key's). */
export const MAX_TARGETS = 8;

const PROVIDER_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Model ids may hold `/` (OpenRouter, Workers AI), `:` (Bedrock, Ollama tags), `@`, `.`, `+`; nothing else. */
const MODEL_RE = /^[A-Za-z0-9@][A-Za-z0-9._:@+\-/]{0,255}$/;

/**
 * Parses `provider/model`, a bare Gemini name (`gemini-2.0-flash`) or `models/...`; a bare name means `gemini`.
 * The string is already percent-decoded. Refused with 400: whitespace or control characters, empty, `.` or `..`
 * segments, and anything outside the model alphabet (so a `%` left by double encoding, too).
 */
export function parseTarget(raw: string): Target {
  let s = raw;
  if (s.startsWith("models/")) s = s.slice(7);
  const slash = s.indexOf("/");
  const target = slash < 0 ? { provider: "gemini", model: s } : { provider: s.slice(0, slash), model: s.slice(slash + 1) };
  if (!PROVIDER_RE.test(target.provider) || !MODEL_RE.test(target.model) || badSegments(target.model)) {
    throw badRequest(
      `invalid model "${printable(raw)}": expected provider/model (e.g. openai/gpt-4o-mini) or a Gemini model name, ` +
        "without empty, '.' or '..' segments",
    );
  }
  return target;
}

const badSegments = (model: string) => model.split("/").some((seg) => seg === "" || seg === "." || seg === "..");

export const targetString = (t: Target) => `${t.provider}/${t.model}`;

export const isProviderName = (s: string) => PROVIDER_RE.test(s);

/**
 * Names that mean a Gemini resource collection in `/genai/{v}/{name}/...` (and the `upload`, `ws` prefixes); no
 * provider may be called like one, so these paths never turn into model calls.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  "models", "files", "cachedContents", "batches", "operations", "tunedModels", "corpora", "auth_tokens",
  "authTokens", "fileSearchStores", "generatedFiles", "upload", "download", "ws", "dynamic", "permissions",
]);

/**
 * An allow-list entry: a canonical model name where `*` may stand for any run of characters (`gemini-*`,
 * `openai/*`, `*`). Checked with the same alphabet as models, so a glob can only name what a model can be.
 */
export function parseModelGlob(raw: string): string {
  const probe = raw.replace(/\*/g, "x");
  if (!raw || raw.length > 300 || !/^[A-Za-z0-9@*][A-Za-z0-9._:@+\-/*]*$/.test(raw) || (probe.includes("/") && badSegments(probe.slice(probe.indexOf("/") + 1)))) {
    throw badRequest(`invalid model pattern "${printable(raw)}": expected a model name where * matches any characters`);
  }
  return raw;
}

/** A caller's string, safe to quote in a message: bounded, control characters escaped. */
export function printable(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  return s.slice(0, max).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}
