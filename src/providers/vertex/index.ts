/**
 * Vertex AI (`vertex/<model>`): Gemini through Google Cloud, with Gemini's own wire format, and Claude as a Vertex
 * partner model (`vertex/claude-...`, `publishers/anthropic`, `rawPredict` / `streamRawPredict`) through the
 * Anthropic translators. A credential is a service account (an access token minted per isolate, see ./auth.ts) with
 * its project and location — regional (`us-east5-aiplatform.googleapis.com`) or `global` — or an express-mode API
 * key, which reaches Google's own models only.
 */
import * as z from "zod/mini";
import { badRequest, upstreamError } from "../../gemini/errors";
import type { Content, GenerateContentRequest } from "../../gemini/schema";
import { sseDecoder } from "../../streaming/translate";
import { anthropicAnswer, anthropicBody, anthropicDecoder } from "../anthropic";
import { entryFields, secretValue, type PoolEntry, type Resolved } from "../credentials/config";
import { type CredentialPool, directCredential } from "../credentials/pool";
import { geminiAnswer, geminiStream } from "../gemini";
import type { Provider, ProviderCall } from "../types";
import { accessToken, parseServiceAccount, type ServiceAccount } from "./auth";
import { VERTEX_MODELS } from "./models";
import { jsonBody } from "../json-body";

export type VertexCredential =
  | { kind: "service-account"; account: ServiceAccount; project: string; location: string }
  | { kind: "api-key"; key: string };

export interface VertexSettings {
  pool: CredentialPool<VertexCredential>;
  /** Overrides the Google host (everything before `/v1/...`), e.g. for Private Service Connect. */
  baseUrl?: string;
}

export const VERTEX_DEFAULT_LOCATION = "global";
/** Claude on Vertex takes this in the body instead of an `anthropic-version` header. */
const VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16";
const LOCATION_RE = /^[a-z0-9-]{1,40}$/;
const PROJECT_RE = /^[a-z0-9][a-z0-9.:-]{0,62}$/;
/** What an express-mode key serves when its entry names no models: Google's own, never a partner's. */
const EXPRESS_MODELS = ["gemini-*", "imagen-*"];

export const isClaude = (model: string) => model.startsWith("claude-");

/** The Google host of a location: `global` has no regional prefix. */
export const vertexHost = (location: string) =>
  location === "global" ? "https://aiplatform.googleapis.com" : `https://${location}-aiplatform.googleapis.com`;

const VertexEntry = z.object({
  project: z.optional(z.string().check(z.regex(PROJECT_RE, "a Google Cloud project id"))),
  location: z.optional(z.string().check(z.regex(LOCATION_RE, "a region such as us-central1, or global"))),
});

/**
 * A pool entry's `secret` holds a service-account key file (JSON) or an express-mode API key. A service account's
 * project is the entry's, else `VERTEX_PROJECT`, else the key file's own; its location the entry's, else
 * `VERTEX_LOCATION`, else `global`.
 */
export const vertexResolver = (env: Record<string, unknown>, defaults: { project?: string; location?: string }) =>
  (e: PoolEntry): Resolved<VertexCredential> & { models?: string[] } => {
    const f = entryFields(VertexEntry, e);
    if ("problem" in f) return f;
    const secret = secretValue(env, e.secret);
    if (!secret) return { problem: e.secret ? `secret ${e.secret} is not set` : "no secret named" };
    if (!secret.trimStart().startsWith("{")) {
      return { material: { kind: "api-key", key: secret }, secrets: [secret], ...(e.models ? {} : { models: EXPRESS_MODELS }) };
    }
    const account = parseServiceAccount(secret);
    if ("problem" in account) return { problem: `secret ${e.secret}: ${account.problem}` };
    const project = f.project ?? defaults.project ?? account.project_id;
    if (!project) return { problem: "no project: set VERTEX_PROJECT or the entry's project" };
    const location = f.location ?? defaults.location ?? VERTEX_DEFAULT_LOCATION;
    if (!LOCATION_RE.test(location)) return { problem: `location "${location}" is not a region` };
    // The whole key file and its private key are what an error could echo.
    return { material: { kind: "service-account", account, project, location }, secrets: [secret, account.private_key] };
  };

export function vertexProvider(s: VertexSettings): Provider<VertexCredential> {
  const name = "vertex";
  const override = s.baseUrl?.replace(/\/+$/, "");
  const geminiDecoder = sseDecoder(geminiStream);

  /** The model's URL: a project's regional or global endpoint, or the express-mode path for an API key. */
  const url = (call: ProviderCall, c: VertexCredential): string => {
    const claude = isClaude(call.model);
    if (c.kind === "api-key") {
      if (claude) throw badRequest(`${name}: an express-mode API key cannot reach Claude; use a service account`);
      return `${override ?? vertexHost("global")}/v1/publishers/google/models/${encodeURIComponent(call.model)}:${call.action}${sse(call)}`;
    }
    const base = `${override ?? vertexHost(c.location)}/v1/projects/${c.project}/locations/${c.location}/publishers`;
    if (!claude) return `${base}/google/models/${encodeURIComponent(call.model)}:${call.action}${sse(call)}`;
    if (call.action === "countTokens") return `${base}/anthropic/models/count-tokens:rawPredict`;
    return `${base}/anthropic/models/${encodeURIComponent(call.model)}:${call.action === "streamGenerateContent" ? "streamRawPredict" : "rawPredict"}`;
  };

  return {
    name,
    models: VERTEX_MODELS,
    actions: new Set(["generateContent", "streamGenerateContent", "countTokens", "predict"] as const),
    configured: !s.pool.empty,
    pool: s.pool,
    direct: (key) => directCredential(key, { kind: "api-key", key }),
    async prepare(call, credential, signal) {
      const c = credential.material;
      const claude = isClaude(call.model);
      if (claude && call.action === "predict") throw badRequest(`${name}: Claude does not serve predict`);
      const target = url(call, c);
      const body = claude ? claudeBody(call) : geminiBody(call);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (c.kind === "api-key") headers["x-goog-api-key"] = c.key;
      else headers.authorization = `Bearer ${await accessToken(c.account, signal)}`;
      return { url: target, headers, body: jsonBody(body) };
    },
    response: (call, upstream) => (isClaude(call.model) ? anthropicAnswer(call, upstream) : geminiAnswer(upstream)),
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: (body, call, onBytes) => (isClaude(call.model) ? anthropicDecoder : geminiDecoder)(body, call, onBytes),
  };
}

const sse = (call: ProviderCall) => (call.action === "streamGenerateContent" ? "?alt=sse" : "");

/** Messages without `model` (it is in the URL, except for count-tokens) and with Vertex's Anthropic version. */
function claudeBody(call: ProviderCall): Record<string, unknown> {
  const { model, ...rest } = anthropicBody(call, "vertex");
  return { anthropic_version: VERTEX_ANTHROPIC_VERSION, ...(call.action === "countTokens" ? { model } : {}), ...rest };
}

/**
 * Gemini's body as Vertex takes it: every content needs a role (the Gemini API assumes `user`), and the system
 * instruction must be a Content, not a bare string.
 */
function geminiBody(call: ProviderCall): unknown {
  if (call.action === "predict") return call.body;
  const fix = (b: GenerateContentRequest) => ({
    ...b,
    ...(b.contents ? { contents: b.contents.map((c: Content) => (c.role ? c : { ...c, role: "user" })) } : {}),
    ...(typeof b.systemInstruction === "string" ? { systemInstruction: { parts: [{ text: b.systemInstruction }] } } : {}),
  });
  const body = call.body as GenerateContentRequest & { generateContentRequest?: GenerateContentRequest };
  if (call.action === "countTokens" && body.generateContentRequest) return { ...body, generateContentRequest: fix(body.generateContentRequest) };
  return fix(body);
}
