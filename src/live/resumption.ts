/**
 * Session resumption handles, sealed to the key that earned them. Every session of every key reaches Gemini under
 * the gateway's own provider key, so a raw handle would resume any key's conversation for whoever holds it. The
 * client gets `edgeway1.<mac>.<handle>` instead, where mac = HMAC-SHA-256(secret, key id, handle) cut to 128 bits;
 * a setup that resumes must bring a handle sealed for its own key, and the upstream sees the raw handle only.
 */
import { GatewayError } from "../gemini/errors";

const PREFIX = "edgeway1.";
const MAC_BYTES = 16;

/** One HMAC key per secret (the provider credential the sessions use), derived once per isolate. */
const keys = new Map<string, Promise<CryptoKey>>();

function macKey(secret: string): Promise<CryptoKey> {
  let k = keys.get(secret);
  if (!k) {
    k = (async () => {
      const raw = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`edgeway live resumption\n${secret}`));
      return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    })();
    if (keys.size > 100) keys.clear();
    keys.set(secret, k);
  }
  return k;
}

const signed = (keyId: string, handle: string) => new TextEncoder().encode(`${keyId}\n${handle}`);

export async function sealHandle(secret: string, keyId: string, handle: string): Promise<string> {
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(secret), signed(keyId, handle)));
  return `${PREFIX}${b64url(mac.subarray(0, MAC_BYTES))}.${handle}`;
}

/** The raw handle of a sealed one, or a 403 when it was not sealed here for this key. */
export async function openHandle(secret: string, keyId: string, sealed: unknown): Promise<string> {
  const refuse = () => new GatewayError(403, "session resumption handle was not issued to this key");
  if (typeof sealed !== "string" || !sealed.startsWith(PREFIX)) throw refuse();
  const dot = sealed.indexOf(".", PREFIX.length);
  if (dot < 0) throw refuse();
  const handle = sealed.slice(dot + 1);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(secret), signed(keyId, handle))).subarray(0, MAC_BYTES);
  const given = fromB64url(sealed.slice(PREFIX.length, dot));
  if (!given || given.length !== MAC_BYTES || !crypto.subtle.timingSafeEqual(given, mac)) throw refuse();
  return handle;
}

function b64url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromB64url(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(s)) return undefined;
  try {
    return Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
