/** request → key record, with the contract's 401/403 answers. */
import { GatewayError } from "../gemini/errors";
import type { Target } from "../lib/target";
import { isWellFormedKey, readCredential } from "./credential";
import { sha256Hex } from "./crypto";
import { matchesAny } from "../lib/globs";
import { keyUnusableReason, type KeyRecord } from "../keys/key-record";
import { KeyStore } from "../keys/key-store";

/** The key a request names, usable or not (401 when there is none): enough to attribute the call. */
export async function identifyKey(req: Request, url: URL, kv: KVNamespace): Promise<KeyRecord> {
  const secret = readCredential(req, url);
  if (!secret) {
    throw new GatewayError(401, "missing API key: send a virtual key (sk-bf-...) in x-goog-api-key, Authorization: Bearer, x-bf-vk, x-api-key or ?key=");
  }
  if (!isWellFormedKey(secret)) throw new GatewayError(401, "API key not valid: expected a virtual key (sk-bf-...)");
  const key = await new KeyStore(kv).byHash(await hashOf(secret));
  if (!key) throw new GatewayError(401, "API key not valid");
  return key;
}

// The SHA-256 of recently seen secrets, per isolate: a key calling again is looked up without hashing again.
// Memory only, bounded; the hash is what KV is keyed by, never a secret.
const hashes = new Map<string, string>();
const MAX_HASHES = 10_000;

async function hashOf(secret: string): Promise<string> {
  let h = hashes.get(secret);
  if (!h) {
    h = await sha256Hex(secret);
    if (hashes.size >= MAX_HASHES) hashes.clear();
    hashes.set(secret, h);
  }
  return h;
}

/** 403 for a key that exists but may not be used (revoked, inactive, expired). */
export function assertKeyUsable(key: KeyRecord): void {
  const why = keyUnusableReason(key);
  if (why) throw new GatewayError(403, why);
}

/** Whether a key's allow-lists admit a target. A Gemini model also matches by its bare name. */
export function isTargetAllowed(key: KeyRecord, t: Target): boolean {
  if (key.providers?.length && !key.providers.includes(t.provider)) return false;
  if (!key.models?.length) return true;
  const full = `${t.provider}/${t.model}`;
  return matchesAny(key.models, full) || (t.provider === "gemini" && matchesAny(key.models, t.model));
}

export function assertTargetAllowed(key: KeyRecord, t: Target): void {
  if (!isTargetAllowed(key, t)) {
    throw new GatewayError(403, `model "${t.provider}/${t.model}" is not allowed for key "${key.name}"`);
  }
}
