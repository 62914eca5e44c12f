/**
 * Service-account credentials for Vertex AI: an RS256-signed JWT (WebCrypto) exchanged at the account's token
 * endpoint for an OAuth access token, cached per isolate until shortly before it expires. Only the token is kept
 * between requests (a string: safe to share across requests); a token endpoint that refuses the account is the
 * credential's fault, one that cannot be reached a transient failure.
 */
import { CredentialFailure } from "../types";

export interface ServiceAccount {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  project_id?: string;
  token_uri: string;
}

const GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token";
const SCOPE = "https://www.googleapis.com/auth/cloud-platform";
/** A token is renewed this long before it expires, so no call goes out with one about to lapse. */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
const JWT_LIFETIME_S = 3600;

/** A service-account key file's JSON, or why it is not one. */
export function parseServiceAccount(text: string): ServiceAccount | { problem: string } {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { problem: "not valid JSON" };
  }
  const str = (k: string) => (typeof j?.[k] === "string" && j[k] ? (j[k] as string) : undefined);
  const email = str("client_email");
  const key = str("private_key");
  if (!email || !key) return { problem: "a service account needs client_email and private_key" };
  if (!pkcs8(key)) return { problem: "private_key is not a PEM PKCS#8 key" };
  return { client_email: email, private_key: key, private_key_id: str("private_key_id"), project_id: str("project_id"), token_uri: str("token_uri") ?? GOOGLE_TOKEN_URI };
}

/** The DER bytes of a PEM `PRIVATE KEY`, or undefined. */
function pkcs8(pem: string): Uint8Array | undefined {
  const m = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(pem);
  if (!m) return undefined;
  try {
    return Uint8Array.from(atob(m[1]!.replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

const tokens = new Map<string, { token: string; expiresAt: number }>();
const keys = new Map<string, CryptoKey>();
const MAX_CACHED = 1000;

/** Forgets cached tokens (tests start from a clean slate). */
export function resetTokenCache(): void {
  tokens.clear();
}

const cacheKey = (sa: ServiceAccount) => `${sa.client_email}\n${sa.private_key_id ?? ""}\n${sa.token_uri}`;

/** An access token for the account: the cached one while it has time left, else a fresh exchange. */
export async function accessToken(sa: ServiceAccount, signal?: AbortSignal, now = Date.now()): Promise<string> {
  const id = cacheKey(sa);
  const hit = tokens.get(id);
  if (hit && hit.expiresAt - TOKEN_REFRESH_MARGIN_MS > now) return hit.token;
  const assertion = await signJwt(sa, now);
  let res: Response;
  try {
    res = await fetch(sa.token_uri, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }).toString(),
      signal,
      // The signed assertion is worth a token: it goes nowhere the endpoint redirects to (a 3xx is a refusal).
      redirect: "manual",
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new CredentialFailure(`token endpoint unreachable (${(e as Error).message})`, "unreachable");
  }
  const body = (await res.json().catch(() => undefined)) as { access_token?: unknown; expires_in?: unknown; error?: unknown } | undefined;
  if (!res.ok) {
    // Only the OAuth error code goes on (e.g. invalid_grant): the endpoint's free text is not ours to pass along.
    const code = typeof body?.error === "string" && /^[a-z_]{1,64}$/.test(body.error) ? `: ${body.error}` : "";
    const why = `token endpoint answered HTTP ${res.status}${code}`;
    throw new CredentialFailure(why, res.status === 429 || res.status >= 500 ? "unreachable" : "refused");
  }
  if (typeof body?.access_token !== "string" || !body.access_token) throw new CredentialFailure("token endpoint gave no access_token", "unreachable");
  const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : JWT_LIFETIME_S;
  if (tokens.size >= MAX_CACHED) tokens.clear();
  tokens.set(id, { token: body.access_token, expiresAt: now + lifetime * 1000 });
  return body.access_token;
}

async function signingKey(sa: ServiceAccount): Promise<CryptoKey> {
  const id = cacheKey(sa);
  let key = keys.get(id);
  if (!key) {
    try {
      key = await crypto.subtle.importKey("pkcs8", pkcs8(sa.private_key)!, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }, false, ["sign"]);
    } catch {
      throw new CredentialFailure("the service account's private_key cannot be used for RS256", "refused");
    }
    if (keys.size >= MAX_CACHED) keys.clear();
    keys.set(id, key);
  }
  return key;
}

/** The signed assertion of RFC 7523: the account asks its token endpoint for a cloud-platform token. */
export async function signJwt(sa: ServiceAccount, now: number): Promise<string> {
  const iat = Math.floor(now / 1000);
  const header = { alg: "RS256", typ: "JWT", ...(sa.private_key_id ? { kid: sa.private_key_id } : {}) };
  const claims = { iss: sa.client_email, sub: sa.client_email, scope: SCOPE, aud: sa.token_uri, iat, exp: iat + JWT_LIFETIME_S };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = await crypto.subtle.sign("RSASSA-PKCS1-v1_5", await signingKey(sa), new TextEncoder().encode(input));
  return `${input}.${b64url(new Uint8Array(sig))}`;
}

function b64url(v: string | Uint8Array): string {
  const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
