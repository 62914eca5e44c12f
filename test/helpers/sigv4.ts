/**
 * The receiving side of AWS Signature Version 4, written from AWS's description (not from the signing library the
 * gateway uses): rebuild the canonical request from what arrived, derive the signing key, compare signatures.
 * Works in workerd and in Node (WebCrypto).
 */
const enc = new TextEncoder();

const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, "0")).join("");
const sha256 = async (s: string) => hex(await crypto.subtle.digest("SHA-256", enc.encode(s)));
async function hmac(key: ArrayBuffer | Uint8Array, data: string): Promise<ArrayBuffer> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", k, enc.encode(data));
}

/** RFC 3986 encoding as AWS canonicalisation wants it: unreserved characters kept, everything else %XX. */
const awsEncode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface SignedRequest {
  method: string;
  /** The path and query exactly as received (still percent-encoded). */
  url: string;
  headers: Record<string, string | string[] | undefined> | Headers;
  body: string;
}

/** Why the signature does not verify, or undefined when it does (for the given key pair, service and region). */
export async function checkSigV4(
  r: SignedRequest,
  creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
  service: string,
  region: string,
): Promise<string | undefined> {
  const get = (name: string): string | undefined => {
    if (r.headers instanceof Headers) return r.headers.get(name) ?? undefined;
    const v = r.headers[name];
    return Array.isArray(v) ? v.join(",") : v;
  };
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(get("authorization") ?? "");
  if (!auth) return "no SigV4 authorization header";
  const [, keyId, date, scopeRegion, scopeService, signedHeaders, signature] = auth;
  if (keyId !== creds.accessKeyId) return "wrong access key id";
  if (scopeRegion !== region || scopeService !== service) return `wrong scope ${scopeRegion}/${scopeService}`;
  const amzDate = get("x-amz-date");
  if (!amzDate?.startsWith(date!)) return "x-amz-date does not match the scope";
  const names = signedHeaders!.split(";");
  for (const required of ["host", "x-amz-date", ...(creds.sessionToken ? ["x-amz-security-token"] : [])]) {
    if (!names.includes(required)) return `${required} is not signed`;
  }
  if (creds.sessionToken && get("x-amz-security-token") !== creds.sessionToken) return "wrong session token";
  const u = new URL(r.url, `http://${get("host") ?? "placeholder"}`);
  // Every service but S3 encodes each (already encoded) path segment once more.
  const path = u.pathname.split("/").map((seg) => awsEncode(seg)).join("/");
  const query = [...u.searchParams].map(([k, v]) => `${awsEncode(k)}=${awsEncode(v)}`).sort().join("&");
  // A fetch Request carries no host header until it is sent: then the URL's host is what goes out.
  const value = (n: string) => (n === "host" ? get("host") ?? u.host : get(n) ?? "");
  const headerLines = names.map((n) => `${n}:${value(n).trim().replace(/\s+/g, " ")}\n`).join("");
  const canonical = [r.method, path, query, headerLines, signedHeaders, await sha256(r.body)].join("\n");
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", amzDate, scope, await sha256(canonical)].join("\n");
  let key: ArrayBuffer = await hmac(enc.encode(`AWS4${creds.secretAccessKey}`), date!);
  for (const part of [region, service, "aws4_request"]) key = await hmac(key, part);
  return hex(await hmac(key, toSign)) === signature ? undefined : "signature mismatch";
}
