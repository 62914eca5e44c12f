/**
 * A throwaway Google service account (an RSA key pair made with WebCrypto) and the token endpoint's side of the
 * JWT-bearer exchange: verify the assertion's RS256 signature against the account's public key and its claims.
 * Works in workerd and in Node.
 */
export interface TestAccount {
  json: string;
  email: string;
  publicKey: CryptoKey;
}

export async function serviceAccount(tokenUri: string, email = "gateway@test-project.iam.gserviceaccount.com"): Promise<TestAccount> {
  const pair = (await crypto.subtle.generateKey(
    { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
    true,
    ["sign", "verify"],
  )) as CryptoKeyPair;
  const der = new Uint8Array((await crypto.subtle.exportKey("pkcs8", pair.privateKey)) as ArrayBuffer);
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  const pem = `-----BEGIN PRIVATE KEY-----\n${btoa(bin).replace(/.{64}/g, "$&\n")}\n-----END PRIVATE KEY-----\n`;
  const json = JSON.stringify({
    type: "service_account", project_id: "test-project", private_key_id: "kid-1", private_key: pem,
    client_email: email, client_id: "1", token_uri: tokenUri,
  });
  return { json, email, publicKey: pair.publicKey };
}

const b64urlBytes = (s: string) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
const b64urlJson = (s: string) => JSON.parse(new TextDecoder().decode(b64urlBytes(s)));

/**
 * What the token endpoint checks of a form body `grant_type=...&assertion=<jwt>`: the grant type, an RS256
 * signature made by the account's key, and claims naming the account, the cloud-platform scope and this endpoint.
 * Returns why it is refused, or undefined when it is good.
 */
export async function checkAssertion(form: string, account: TestAccount, tokenUri: string, now = Date.now()): Promise<string | undefined> {
  const p = new URLSearchParams(form);
  if (p.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return "grant_type";
  const [h, c, s] = (p.get("assertion") ?? "").split(".");
  if (!h || !c || !s) return "not a JWT";
  const header = b64urlJson(h);
  if (header.alg !== "RS256" || header.kid !== "kid-1") return "header";
  const ok = await crypto.subtle.verify("RSASSA-PKCS1-v1_5", account.publicKey, b64urlBytes(s), new TextEncoder().encode(`${h}.${c}`));
  if (!ok) return "signature";
  const claims = b64urlJson(c);
  if (claims.iss !== account.email || claims.aud !== tokenUri || claims.scope !== "https://www.googleapis.com/auth/cloud-platform") return "claims";
  const t = Math.floor(now / 1000);
  if (!(claims.iat <= t + 5 && claims.exp > t && claims.exp - claims.iat <= 3600)) return "times";
  return undefined;
}
