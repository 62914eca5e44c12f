/** The ordered targets of one call: the path's model, then the body's `fallbacks`, else the key's default chain. */
import { badRequest } from "../gemini/errors";
import type { KeyRecord } from "../auth/key-record";
import { parseTarget, targetString, type Target } from "./target";

export const MAX_TARGETS = 8;

export function planTargets(primary: Target, bodyFallbacks: string[] | undefined, key: KeyRecord): Target[] {
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
