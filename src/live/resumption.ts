/**
 * Session resumption handles, sealed to the key that earned them and the upstream credential that issued them.
 * Every key's sessions reach Gemini under the gateway's own provider credentials, so a raw handle would resume any
 * key's conversation for whoever holds it. The client gets `edgeway1.<mac>.<label>.<handle>` instead: `label` (base64url)
 * names the credential the session used (a resumed session must go upstream under the same one), and mac =
 * HMAC-SHA-256(a key derived from that credential's secret, key id + label + handle), cut to 128 bits. A setup that
 * resumes must bring a handle sealed for its own key; the upstream sees the raw handle only.
 */
import { GatewayError } from "../gemini/errors";

const PREFIX = "edgeway1.";
const MAC_BYTES = 16;
/** For a credential without a secret (a keyless upstream): handles then resume only within this isolate. */
let isolateSecret: string | undefined;

export interface SealedHandle {
  label: string;
  handle: string;
  mac: Uint8Array;
}

/** One HMAC key per secret, derived once per isolate. */
const keys = new Map<string, Promise<CryptoKey>>();

function macKey(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = (async () => {
      const raw = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`edgeway live resumption\n${secret || (isolateSecret ??= crypto.randomUUID())}`));
      return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    })();
    if (keys.size > 100) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

async function mac(secret: string, keyId: string, label: string, handle: string): Promise<Uint8Array> {
  const data = new TextEncoder().encode(`${keyId}\n${label}\n${handle}`);
  return new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(secret), data)).subarray(0, MAC_BYTES);
}

const refused = () => new GatewayError(403, "session resumption handle was not issued to this key");

export async function sealHandle(secret: string, keyId: string, label: string, handle: string): Promise<string> {
  return `${PREFIX}${b64url(await mac(secret, keyId, label, handle))}.${b64url(new TextEncoder().encode(label))}.${handle}`;
}

/** A sealed handle's parts (not yet verified: that needs the secret of the credential it names), or a 403. */
export function unseal(sealed: unknown): SealedHandle {
  if (typeof sealed !== "string" || !sealed.startsWith(PREFIX)) throw refused();
  const m = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{0,400})\.(.+)$/s.exec(sealed.slice(PREFIX.length));
  const given = m && fromB64url(m[1]!);
  const label = m && fromB64url(m[2]!);
  if (!m || !given || given.length !== MAC_BYTES || !label) throw refused();
  return { mac: given, label: new TextDecoder().decode(label), handle: m[3]! };
}

/** Throws the 403 unless `sealed` was sealed here, for `keyId`, under `secret`. */
export async function verifyHandle(secret: string, keyId: string, sealed: SealedHandle): Promise<void> {
  const expected = await mac(secret, keyId, sealed.label, sealed.handle);
  if (!crypto.subtle.timingSafeEqual(sealed.mac, expected)) throw refused();
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
