/**
 * Amazon Bedrock (`bedrock/<model id>`): the Converse and ConverseStream APIs, which take every Bedrock text model
 * in one shape. A credential is an access key pair (SigV4 signing by aws4fetch, session token optional) or a Bedrock
 * API key (`Authorization: Bearer`), each with its region. Streams are the binary AWS event-stream, decoded as they
 * arrive (./eventstream.ts).
 */
import { AwsV4Signer } from "aws4fetch";
import * as z from "zod/mini";
import { upstreamError } from "../../gemini/errors";
import type { CountTokensRequest, GenerateContentRequest } from "../../gemini/schema";
import { estimateCount } from "../../gemini/text";
import { entryFields, secretValue, type PoolEntry, type Resolved } from "../credentials/config";
import { type CredentialPool, directCredential } from "../credentials/pool";
import type { Provider } from "../types";
import { BEDROCK_MODELS } from "./models";
import { converseBody } from "./request";
import { converseResponse, type ConverseResponse } from "./response";
import { converseDecoder } from "./stream";

export type BedrockCredential =
  | { kind: "sigv4"; accessKeyId: string; secretAccessKey: string; sessionToken?: string; region: string }
  | { kind: "api-key"; key: string; region: string };

export interface BedrockSettings {
  pool: CredentialPool<BedrockCredential>;
  /** The region of credentials that name none, and of direct calls. */
  region: string;
  /** Overrides `https://bedrock-runtime.<region>.amazonaws.com` (a VPC endpoint, a test upstream). */
  baseUrl?: string;
}

export const BEDROCK_DEFAULT_REGION = "us-east-1";
const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
export const isRegion = (r: string) => REGION_RE.test(r);
const runtimeHost = (region: string) => `https://bedrock-runtime.${region}.amazonaws.com`;

/** Derived SigV4 signing keys, per isolate (aws4fetch keys them by secret, date, region and service). */
const signingKeys = new Map<string, ArrayBuffer>();

const BedrockEntry = z.object({
  region: z.optional(z.string().check(z.regex(REGION_RE, "an AWS region such as us-east-1"))),
  access_key_id_secret: z.optional(z.string()),
  secret_access_key_secret: z.optional(z.string()),
  session_token_secret: z.optional(z.string()),
});

/**
 * A pool entry names either its access key's secrets (`access_key_id_secret`, `secret_access_key_secret`, optional
 * `session_token_secret`) or, in `secret`, a Bedrock API key; `region` defaults to BEDROCK_REGION.
 */
export const bedrockResolver = (env: Record<string, unknown>, defaultRegion: string) =>
  (e: PoolEntry): Resolved<BedrockCredential> => {
    const f = entryFields(BedrockEntry, e);
    if ("problem" in f) return f;
    const region = f.region ?? defaultRegion;
    if (f.access_key_id_secret || f.secret_access_key_secret) {
      const accessKeyId = secretValue(env, f.access_key_id_secret);
      const secretAccessKey = secretValue(env, f.secret_access_key_secret);
      if (!accessKeyId || !secretAccessKey) return { problem: "access_key_id_secret and secret_access_key_secret must name set secrets" };
      const sessionToken = secretValue(env, f.session_token_secret);
      if (f.session_token_secret && !sessionToken) return { problem: `secret ${f.session_token_secret} is not set` };
      return {
        material: { kind: "sigv4", accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}), region },
        secrets: [accessKeyId, secretAccessKey, ...(sessionToken ? [sessionToken] : [])],
      };
    }
    const key = secretValue(env, e.secret);
    if (!key) return { problem: e.secret ? `secret ${e.secret} is not set` : "no secret named" };
    return { material: { kind: "api-key", key, region }, secrets: [key] };
  };

export function bedrockProvider(s: BedrockSettings): Provider<BedrockCredential> {
  const name = "bedrock";
  const override = s.baseUrl?.replace(/\/+$/, "");
  return {
    name,
    models: BEDROCK_MODELS,
    actions: new Set(["generateContent", "streamGenerateContent", "countTokens"] as const),
    configured: !s.pool.empty,
    pool: s.pool,
    direct: (key) => directCredential(key, { kind: "api-key" as const, key, region: s.region }),
    // Converse has no count endpoint that every model takes: an estimate, flagged as such.
    local: (call) => (call.action === "countTokens" ? estimateCount(call.body as CountTokensRequest) : undefined),
    async prepare(call, credential) {
      const c = credential.material;
      const stream = call.action === "streamGenerateContent";
      const url = `${override ?? runtimeHost(c.region)}/model/${encodeURIComponent(call.model)}/${stream ? "converse-stream" : "converse"}`;
      const body = JSON.stringify(converseBody(call.model, call.body as GenerateContentRequest, name));
      const headers: Record<string, string> = {
        "content-type": "application/json",
        accept: stream ? "application/vnd.amazon.eventstream" : "application/json",
      };
      if (c.kind === "api-key") {
        headers.authorization = `Bearer ${c.key}`;
        return new Request(url, { method: "POST", headers, body });
      }
      const signed = await new AwsV4Signer({
        method: "POST", url, headers, body, service: "bedrock", region: c.region, cache: signingKeys,
        accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken,
      }).sign();
      return new Request(signed.url, { method: "POST", headers: signed.headers, body });
    },
    response: (call, upstream) => converseResponse(upstream as ConverseResponse, call.model),
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: converseDecoder,
  };
}
