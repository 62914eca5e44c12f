/**
 * Direct keys (`DIRECT_KEYS=on`): a caller may bring their own provider key instead of a virtual key. It is used as
 * the upstream credential of that one call and nothing else: no governance applies, and the call is attributed to
 * `direct:<first 8 hex of the key's SHA-256>` so its usage rows can be told apart without holding the key. The key is
 * never logged or stored.
 */
import { GatewayError } from "../gemini/errors";
import { readCredential } from "./credential";
import { sha256Hex } from "./crypto";
import type { CallGate } from "../pipeline/context";
import type { KeyRecord } from "./key-record";

/** A caller identified by their own provider key: the stand-in key record its rows carry, and the key itself. */
export interface DirectCaller {
  key: KeyRecord;
  secret: string;
}

/** Printable, no spaces, a sane length: what any provider's key looks like, and safe to put in a header. */
const DIRECT_KEY_RE = /^[\x21-\x7e]{8,1024}$/;

/**
 * The direct caller a request names, or undefined when its credential is a virtual key (or there is none): then
 * the virtual-key path answers. Anything starting `sk-bf-` is a virtual key, well-formed or not, never a direct key.
 */
export async function identifyDirectCaller(req: Request, url: URL): Promise<DirectCaller | undefined> {
  const secret = readCredential(req, url);
  if (!secret || secret.startsWith("sk-bf-")) return undefined;
  if (!DIRECT_KEY_RE.test(secret)) throw new GatewayError(401, "API key not valid");
  const id = `direct:${(await sha256Hex(secret)).slice(0, 8)}`;
  const now = new Date(0).toISOString();
  return { key: { id, name: id, active: true, prefix: "", created_at: now, updated_at: now }, secret };
}

/** A direct call's admission: there is no virtual key, so no status, limit or budget to check or settle. */
export function ungoverned(key: KeyRecord): CallGate {
  return {
    check: async () => {},
    admit: async () => {},
    verified: async () => {},
    finish: () => undefined,
    record: key,
    budgeted: false,
  };
}
