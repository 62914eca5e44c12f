/**
 * Whose fault an upstream refusal is, for a pool's health (docs/providers.md, "Upstream key pools"): the credential's (it is
 * benched for every model), the credential's for this model only (throttled: the providers throttle per model), or
 * the request's (nothing is benched). One rule for the attempt loop and for Live, decided from the status and the
 * decoded error alone, so that no request can bench a credential every other caller shares: a request-caused 400
 * or 403 never does, and an error text that echoes the request (`API key not valid` in a field name) is not read
 * as the credential's refusal — only structured fields and messages the provider starts with are.
 */
export type CredentialFault = "credential" | "model" | "none";

/** The parts of a provider's error body the rule reads (Google, OpenAI, Azure, Anthropic, Bedrock shapes). */
export interface DecodedError {
  /** Google's `error.details[]` ErrorInfo reasons (`API_KEY_INVALID`, `SERVICE_DISABLED`, …). */
  reasons: string[];
  /** OpenAI's `error.code` / Azure's `error.code` / Bedrock's `__type`. */
  code?: string;
  /** OpenAI's `error.type` / Anthropic's `error.type`. */
  type?: string;
  message: string;
}

/**
 * ErrorInfo reasons that refuse the key or its project, whatever the request: Google answers them before it reads
 * the request (an invalid, expired or restricted key, a disabled API, a suspended or unbilled project).
 */
const GOOGLE_CREDENTIAL_REASONS = new Set([
  "API_KEY_INVALID",
  "API_KEY_EXPIRED",
  "API_KEY_SERVICE_BLOCKED",
  "API_KEY_HTTP_REFERRER_BLOCKED",
  "API_KEY_IP_ADDRESS_BLOCKED",
  "API_KEY_ANDROID_APP_BLOCKED",
  "API_KEY_IOS_APP_BLOCKED",
  "SERVICE_DISABLED",
  "CONSUMER_SUSPENDED",
  "CONSUMER_INVALID",
  "BILLING_DISABLED",
  "ACCESS_TOKEN_EXPIRED",
  "ACCESS_TOKEN_TYPE_UNSUPPORTED",
  "CREDENTIALS_MISSING",
]);

/** How Google begins a refusal of the key in its message (400 or 403). */
const GOOGLE_KEY_MESSAGE = /^API key (?:not valid|expired)/;
/** How AWS begins a refusal of the access key or its signature (always a 403). */
const AWS_KEY_MESSAGE = /^(?:The security token included in the request is (?:invalid|expired)|The request signature we calculated does not match)/;

/** Error codes and types that name the credential (OpenAI, Azure, Anthropic, AWS). */
const CREDENTIAL_CODES = new Set([
  "invalid_api_key",
  "authentication_error",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "ExpiredTokenException",
  "IncompleteSignatureException",
  "MissingAuthenticationTokenException",
]);

/**
 * - 429: throttled for this model (`model`), unless the provider says the account's whole quota is spent
 *   (OpenAI's `insufficient_quota`: every model, `credential`).
 * - 401: the upstream did not accept the credential (no request content earns one): `credential`.
 * - 400/403 with a structured reason or code naming the credential (Google's `API_KEY_INVALID`, AWS's
 *   `UnrecognizedClientException`, …), or a message that begins as the provider words such a refusal (Google's at
 *   400 or 403, AWS's at 403, the status it sends them with): `credential`.
 * - Anything else (a 403 for a model the project may not use, a bad argument, a 404, a 5xx): `none`.
 */
export function credentialFault(status: number, e: DecodedError): CredentialFault {
  if (status === 429) return e.code === "insufficient_quota" || e.type === "insufficient_quota" ? "credential" : "model";
  if (status === 401) return "credential";
  if (status !== 400 && status !== 403) return "none";
  if (e.reasons.some((r) => GOOGLE_CREDENTIAL_REASONS.has(r))) return "credential";
  if ((e.code && CREDENTIAL_CODES.has(e.code)) || (e.type && CREDENTIAL_CODES.has(e.type))) return "credential";
  return GOOGLE_KEY_MESSAGE.test(e.message) || (status === 403 && AWS_KEY_MESSAGE.test(e.message)) ? "credential" : "none";
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => !!v && typeof v === "object" && !Array.isArray(v);
const str = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : undefined);

/** The fields `credentialFault` reads, from any provider's error body (not JSON: the text is the message). */
export function decodeError(text: string): DecodedError {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { reasons: [], message: text.trim() };
  }
  if (!isObj(v)) return { reasons: [], message: "" };
  const err = isObj(v.error) ? v.error : v;
  const reasons: string[] = [];
  if (Array.isArray(err.details)) {
    for (const d of err.details) {
      if (isObj(d) && typeof d.reason === "string" && String(d["@type"] ?? "").endsWith("google.rpc.ErrorInfo")) reasons.push(d.reason);
    }
  }
  return {
    reasons,
    code: str(err.code) ?? str(v.__type)?.split("#").pop(),
    type: str(err.type),
    message: (str(err.message) ?? str(v.message) ?? str(v.Message) ?? "").trim(),
  };
}

/** `credentialFault` of a raw upstream answer. */
export const faultOf = (status: number, bodyText: string): CredentialFault => credentialFault(status, decodeError(bodyText));
