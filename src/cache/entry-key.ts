/**
 * The key of a cache entry: SHA-256 over the scope (with its generation), the action, the target chain and the
 * request body in a canonical form (object keys sorted, no whitespace), so that key order and spacing do not
 * matter and every field that can change the answer does. The body is the one the upstream would get: the
 * gateway's own fields (`fallbacks`) are not in it, but the chain they made is, so a different chain is a miss.
 */
import { targetString, type Target } from "../lib/target";

export async function entryKey(scope: string, action: string, targets: readonly Target[], body: unknown): Promise<string> {
  const text = `${scope}\n${action}\n${targets.map(targetString).join(",")}\n${canonicalJson(body)}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  let hex = "";
  for (const b of new Uint8Array(digest)) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** JSON with every object's keys in sorted order (undefined members left out, as JSON.stringify does). */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined || typeof x === "function" ? "null" : canonicalJson(x))).join(",")}]`;
  const o = v as Record<string, unknown>;
  let out = "";
  for (const k of Object.keys(o).sort()) {
    const x = o[k];
    if (x === undefined || typeof x === "function") continue;
    out += `${out ? "," : ""}${JSON.stringify(k)}:${canonicalJson(x)}`;
  }
  return `{${out}}`;
}
