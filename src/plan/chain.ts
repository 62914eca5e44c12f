/** The ordered targets of one call: the path's model, then the body's `fallbacks`, else the key's default chain. */
import { badRequest } from "../gemini/errors";
import { MAX_TARGETS, parseTarget, targetString, type Target } from "../lib/target";

/** `key` is the caller's key record (src/keys/key-record.ts); only its default chain is read. */
export function planTargets(primary: Target, bodyFallbacks: string[] | undefined, key: { fallbacks?: string[] }): Target[] {
  const chain = bodyFallbacks ?? key.fallbacks ?? [];
  if (chain.length >= MAX_TARGETS) throw badRequest(`fallbacks: at most ${MAX_TARGETS - 1} entries`);
  const seen = new Set([targetString(primary)]);
  const targets = [primary];
  for (const raw of chain) {
    const t = parseTarget(raw);
    const s = targetString(t);
    if (!seen.has(s)) {
      seen.add(s);
      targets.push(t);
    }
  }
  return targets;
}
