/**
 * The canonical form of a JSON value: what the response cache keys an entry by (src/cache/entry-key.ts), so that key
 * order and spacing do not matter and every field does.
 */

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
