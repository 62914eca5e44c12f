/**
 * Direct keys (`DIRECT_KEYS=on`): a caller may bring their own provider key instead of a virtual key. It is used as
 * the upstream credential of that one call and nothing else: no governance applies, and the call is attributed to
 * `direct:<first 8 hex of the key's SHA-256>` so its usage rows can be told apart without holding the key. The key is
 * never logged or stored.
 *
 * A key belongs to one provider: the one of the model the call names. Fallbacks to another provider get a key only
 * when the caller gave one for it (`x-edgeway-direct-key-<provider>`); never the first one, which would hand the
 * caller's Google key to OpenAI.
 */
import { badRequest, GatewayError } from "../gemini/errors";
import { isProviderName } from "../lib/target";
import { readCredential } from "./credential";
import { sha256Hex } from "./crypto";
import type { CallGate } from "../governance/gate";
import type { KeyRecord } from "../keys/key-record";

/** A caller identified by their own provider key: the stand-in key record its rows carry, and the key itself. */
export interface DirectCaller {
  key: KeyRecord;
  secret: string;
  /** Keys for other providers, by provider name (`x-edgeway-direct-key-<provider>` headers). */
  others: ReadonlyMap<string, string>;
}

/** The caller's keys of one direct call, each for the one provider it may be sent to. */
export interface DirectKeys {
  /** The provider of the model the call names: the presented credential is its key. */
  owner: string;
  /** Provider name → the caller's key for it (the owner's included). */
  keys: ReadonlyMap<string, string>;
}

/** Header prefix naming a direct key's provider, for the fallbacks of a direct call. */
export const DIRECT_KEY_HEADER = "x-edgeway-direct-key-";
/** At most one per target a chain may hold (MAX_TARGETS, src/lib/target.ts) beyond the call's own. */
const MAX_OTHER_KEYS = 7;

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
  return { key: { id, name: id, active: true, prefix: "", created_at: now, updated_at: now }, secret, others: otherKeys(req.headers) };
}

/** The `x-edgeway-direct-key-<provider>` headers: each a provider name and a key, checked like the main one. */
function otherKeys(headers: Headers): ReadonlyMap<string, string> {
  const others = new Map<string, string>();
  for (const [name, value] of headers) {
    if (!name.startsWith(DIRECT_KEY_HEADER)) continue;
    const provider = name.slice(DIRECT_KEY_HEADER.length);
    if (!isProviderName(provider)) throw badRequest(`${DIRECT_KEY_HEADER}<provider>: "${provider.slice(0, 64)}" is not a provider name`);
    if (!DIRECT_KEY_RE.test(value.trim())) throw new GatewayError(401, "API key not valid");
    others.set(provider, value.trim());
  }
  if (others.size > MAX_OTHER_KEYS) throw badRequest(`${DIRECT_KEY_HEADER}<provider>: at most ${MAX_OTHER_KEYS} headers`);
  return others;
}

/**
 * The keys of a direct call whose model is `owner`'s: the presented credential for it, and the caller's others. A
 * second key for the owner is refused: which of the two the call would use is not the caller's to guess.
 */
export function directKeys(caller: DirectCaller, owner: string): DirectKeys {
  if (caller.others.has(owner)) {
    throw badRequest(`${DIRECT_KEY_HEADER}${owner}: the call's own credential is already the key for "${owner}"`);
  }
  return { owner, keys: new Map([...caller.others, [owner, caller.secret]]) };
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
