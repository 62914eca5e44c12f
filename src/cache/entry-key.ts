/**
 * The key of a cache entry: the scope (with its generation), the action, the target chain and the
 * request body in a canonical form (object keys sorted, no whitespace), so that key order and spacing do not
 * matter and every field that can change the answer does. The body is the one the upstream would get: the
 * gateway's own fields (`fallbacks`) are not in it, but the chain they made is, so a different chain is a miss.
 * The memory tier keys entries by that text itself, the Cache API by its SHA-256.
 */
import { targetString, type Target } from "../lib/target";

export class EntryKey {
  /** The scope, action, chain and canonical body as one text: the memory tier's key (no hash to compute on a hit). */
  readonly text: string;
  #digest?: Promise<string>;

  /** `canonicalBody`: the body's canonical JSON (src/lib/canonical-json.ts), as the call computed it once. */
  constructor(scope: string, action: string, targets: readonly Target[], canonicalBody: string) {
    this.text = `${scope}\n${action}\n${targets.map(targetString).join(",")}\n${canonicalBody}`;
  }

  /** SHA-256 of the text, in hex: the Cache API's key (a URL cannot carry a body); computed once, when first asked. */
  digest(): Promise<string> {
    return (this.#digest ??= crypto.subtle.digest("SHA-256", new TextEncoder().encode(this.text)).then((d) => {
      let hex = "";
      for (const b of new Uint8Array(d)) hex += b.toString(16).padStart(2, "0");
      return hex;
    }));
  }
}
