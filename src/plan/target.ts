/** `provider/model` strings: what the path, `fallbacks` and key defaults name. */
import { badRequest } from "../gemini/errors";

export interface Target {
  provider: string;
  model: string;
}

const PROVIDER_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
// A leading @ is Workers AI's naming (`@cf/meta/...`).
const MODEL_RE = /^[A-Za-z0-9@][A-Za-z0-9._:@+\-/]{0,255}$/;

/**
 * Parses `provider/model`, a bare Gemini name (`gemini-2.0-flash`) or `models/...`. A bare name means `gemini`.
 * The caller has already percent-decoded the string (so `%2F` arrives here as `/`).
 */
export function parseTarget(raw: string): Target {
  let s = raw.trim();
  if (s.startsWith("models/")) s = s.slice(7);
  const slash = s.indexOf("/");
  const target = slash < 0 ? { provider: "gemini", model: s } : { provider: s.slice(0, slash), model: s.slice(slash + 1) };
  if (!PROVIDER_RE.test(target.provider) || !MODEL_RE.test(target.model)) {
    throw badRequest(`invalid model "${raw.slice(0, 200)}": expected provider/model (e.g. openai/gpt-4o-mini) or a Gemini model name`);
  }
  return target;
}

export const targetString = (t: Target) => `${t.provider}/${t.model}`;
