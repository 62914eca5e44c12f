/**
 * Azure OpenAI (`azure/<deployment>`): the OpenAI translators with Azure's wiring — the resource's base URL, the
 * deployment in the path, `api-version` in the query and the key in `api-key`. Each pooled credential may name its
 * own resource (a pool spread over regions to add up their quotas).
 */
import * as z from "zod/mini";
import { upstreamError } from "../../gemini/errors";
import type { Action, CountTokensRequest } from "../../gemini/schema";
import { estimateCount } from "../../gemini/text";
import { sseDecoder } from "../../streaming/translate";
import { entryFields, secretValue, type PoolEntry, type Resolved } from "../credentials/config";
import { type CredentialPool, directCredential } from "../credentials/pool";
import { OPENAI_ACTIONS } from "../openai";
import type { ChatOptions } from "../openai/request";
import { openaiStream } from "../openai/stream";
import { openaiAnswer, openaiBody } from "../openai/wire";
import type { Provider } from "../types";
import { jsonBody } from "../json-body";

/** The latest GA data-plane version when this was written; AZURE_OPENAI_API_VERSION picks another. */
export const AZURE_DEFAULT_API_VERSION = "2024-10-21";

export interface AzureCredential {
  key: string;
  /** `https://<resource>.openai.azure.com`, or a base URL of the operator's choosing. */
  base: string;
}

export interface AzureSettings {
  pool: CredentialPool<AzureCredential>;
  /** The resource of credentials that name none, and of direct calls; none: direct calls cannot be served. */
  defaultBase?: string;
  apiVersion: string;
  /** Deployment names to list in the models route. */
  deployments: readonly string[];
}

const PATHS: Record<Action, string> = {
  generateContent: "chat/completions",
  streamGenerateContent: "chat/completions",
  countTokens: "chat/completions",
  embedContent: "embeddings",
  batchEmbedContents: "embeddings",
  predict: "images/generations",
};

const RESOURCE_RE = /^[a-z0-9][a-z0-9-]{0,62}$/i;
export const azureBase = (resource: string) => `https://${resource}.openai.azure.com`;

/** A pool entry's own fields: `resource` or `base_url` (else the provider's default resource). */
const AzureEntry = z.object({
  resource: z.optional(z.string().check(z.regex(RESOURCE_RE, "an Azure resource name"))),
  base_url: z.optional(z.url()),
});

export const azureResolver = (env: Record<string, unknown>, defaultBase: string | undefined) =>
  (e: PoolEntry): Resolved<AzureCredential> => {
    const f = entryFields(AzureEntry, e);
    if ("problem" in f) return f;
    const key = secretValue(env, e.secret);
    if (!key) return { problem: e.secret ? `secret ${e.secret} is not set` : "no secret named" };
    const base = f.base_url ?? (f.resource ? azureBase(f.resource) : defaultBase);
    if (!base) return { problem: "no resource: set AZURE_OPENAI_RESOURCE or the entry's resource" };
    return { material: { key, base: base.replace(/\/+$/, "") }, secrets: [key] };
  };

export function azureProvider(s: AzureSettings): Provider<AzureCredential> {
  const name = "azure";
  // Versions before 2024-09-01 know neither max_completion_tokens nor stream_options (compared as ISO dates).
  const modern = s.apiVersion >= "2024-09-01";
  const opts: ChatOptions = { provider: name, maxTokensField: modern ? "max_completion_tokens" : "max_tokens", streamUsage: modern };
  const query = `?api-version=${encodeURIComponent(s.apiVersion)}`;
  const defaultBase = s.defaultBase?.replace(/\/+$/, "");
  return {
    name,
    models: s.deployments.map((id) => ({ id, displayName: `${id} (Azure deployment)`, actions: OPENAI_ACTIONS })),
    actions: new Set(OPENAI_ACTIONS),
    configured: !s.pool.empty,
    pool: s.pool,
    ...(defaultBase ? { direct: (key: string) => directCredential(key, { key, base: defaultBase }) } : {}),
    local: (call) => (call.action === "countTokens" ? estimateCount(call.body as CountTokensRequest) : undefined),
    async prepare(call, credential) {
      const { key, base } = credential.material;
      const url = `${base}/openai/deployments/${encodeURIComponent(call.model)}/${PATHS[call.action]}${query}`;
      const headers = { "content-type": "application/json", "api-key": key };
      return new Request(url, { method: "POST", headers, body: jsonBody(openaiBody(call, opts)) });
    },
    response: openaiAnswer,
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: sseDecoder(() => openaiStream()),
  };
}
