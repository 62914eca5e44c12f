/**
 * Everything derived from the Worker's vars and secrets, parsed once per isolate (keyed by the env object, which
 * the runtime reuses across requests) and never on the hot path.
 */
import { cooledListener } from "./alerts/cooled";
import { alertSettings } from "./alerts/settings";
import * as z from "zod/mini";
import type { Env } from "./env";
import { ANTHROPIC_DEFAULT_BASE_URL, anthropicProvider } from "./providers/anthropic";
import { GEMINI_DEFAULT_BASE_URL, geminiProvider } from "./providers/gemini";
import { mockProvider } from "./providers/mock";
import { OPENAI_DEFAULT_BASE_URL, openaiProvider } from "./providers/openai";
import { AZURE_DEFAULT_API_VERSION, azureBase, azureProvider, azureResolver } from "./providers/azure";
import { BEDROCK_DEFAULT_REGION, bedrockProvider, bedrockResolver, isRegion } from "./providers/bedrock";
import { vertexProvider, vertexResolver } from "./providers/vertex";
import { workersAiProvider, type AiBinding } from "./providers/workers-ai";
import { secretValue } from "./providers/credentials/config";
import { OPENAI_MODELS } from "./providers/openai/models";
import type { Provider } from "./providers/types";
import { describeIssues } from "./gemini/schema";
import { redactor, type Redactor } from "./gemini/redact";
import { apiKeyResolver, buildPool, providerKeys, type PoolEntry } from "./providers/credentials/config";
import { DEFAULT_COOLDOWNS, type Cooldowns } from "./providers/credentials/pool";
import { RESERVED_NAMES } from "./lib/target";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./pipeline/retry-policy";
import { parseGuardrails, type Guardrails } from "./guardrails/policy";
import { Price, priceLookup, type PriceLookup, type PriceTable } from "./usage/prices";

/** What `CORS_ORIGINS` allows: any origin, or these (as `URL.origin` writes them). */
export type CorsPolicy = { any: true } | { any: false; origins: ReadonlySet<string> };

declare module "./env" {
  interface AppVariables {
    /** This isolate's config, put on `c.var` by the request-id middleware. */
    config: Config;
  }
}

export interface Config {
  maxBodyBytes: number;
  providers: ReadonlyMap<string, Provider>;
  /** Names a path may put first: `/genai/{v}/{provider}/{model}:{action}`. */
  providerNames: ReadonlySet<string>;
  /** USD per 1M tokens for provider/model; undefined for an unknown model (which then costs 0). */
  price: PriceLookup;
  /** Retries, backoff and time limits of the attempt loop. */
  retry: RetryPolicy;
  /** The longest a Live session may stay open (`LIVE_MAX_SESSION_SECONDS`). */
  liveMaxSessionMs: number;
  /** `DIRECT_KEYS=on`: a credential that is not a virtual key is the caller's own provider key for that call. */
  directKeys: boolean;
  /** `RESPONSE_CACHE=off`: no call looks for a cache policy (the response cache's hook is not configured at all). */
  responseCache: boolean;
  /** Which browser origins may call the inference routes (`CORS_ORIGINS`); undefined: CORS is off. */
  cors?: CorsPolicy;
  /** Takes every configured secret (every pool's keys, the admin token) out of text a caller or the usage log sees. */
  redact: Redactor;
  /** `GUARDRAILS` parsed (its error kept, never dropped); undefined when unset: no guardrail hook at all. */
  guardrails?: Guardrails;
  /** LOG_BUCKET is bound: calls of keys and teams with `log_bodies` store their bodies (src/observe/bodies.ts). */
  logBodies: boolean;
}

/**
 * 12 MiB: a call holds about 2× its body at its peak (the raw text while it is parsed, then the parsed body alone:
 * the upstream body is written out as it is sent), so 4 calls with the largest body fit a 128 MB isolate with room
 * for the isolate's own heap (bench/memory.mjs; docs/limits.md).
 */
export const DEFAULT_MAX_BODY = 12 * 1024 * 1024;
/** 15 minutes: Gemini's own limit for an audio session (its connections end sooner, with a goAway, and resume). */
const DEFAULT_LIVE_MAX_SESSION_SECONDS = 900;

const cache = new WeakMap<object, Config>();

export function getConfig(env: Env): Config {
  let c = cache.get(env);
  if (!c) {
    c = buildConfig(env);
    cache.set(env, c);
  }
  return c;
}

function buildConfig(env: Env): Config {
  const providers = new Map<string, Provider>();
  const add = (p: Provider) => providers.set(p.name, p);
  const keys = providerKeys(jsonVar<unknown>(env.PROVIDER_KEYS, "PROVIDER_KEYS"));
  const cooldowns = cooldownsOf(env);
  const apiKey = apiKeyResolver(env);
  /** The pool of a provider whose credential is an API key; `standard` is the secret used when PROVIDER_KEYS names none. */
  /** The entries a provider has when PROVIDER_KEYS lists none: its standard secret if set, labelled `default`. */
  const standard = (secret: string, fields: Record<string, string> = {}): PoolEntry[] =>
    secretValue(env, secret) ? [{ label: "default", secret, ...fields }] : [];
  const keyPool = (name: string, secret: string) => buildPool(name, keys.get(name), standard(secret), apiKey, cooldowns);

  add(geminiProvider({
    baseUrl: env.GEMINI_BASE_URL || GEMINI_DEFAULT_BASE_URL, pool: keyPool("gemini", "GEMINI_API_KEY"), resourcesKey: secretValue(env, "GEMINI_API_KEY"),
  }));
  // Free and offline, so never on unless asked for (`npm start` asks; wrangler.toml does not).
  if (env.MOCK_PROVIDER === "on") add(mockProvider());
  add(openaiProvider({
    name: "openai", baseUrl: env.OPENAI_BASE_URL || OPENAI_DEFAULT_BASE_URL, pool: keyPool("openai", "OPENAI_API_KEY"), models: OPENAI_MODELS,
    // o-series and gpt-5 reason; gpt-4o/gpt-4.1 refuse reasoning_effort, and only gpt-5 knows `minimal`.
    reasoning: { models: /^(o\d|gpt-5)/, minimal: /^gpt-5/ },
  }));
  add(anthropicProvider({ baseUrl: env.ANTHROPIC_BASE_URL || ANTHROPIC_DEFAULT_BASE_URL, pool: keyPool("anthropic", "ANTHROPIC_API_KEY") }));
  const azureDefault = env.AZURE_OPENAI_BASE_URL || (env.AZURE_OPENAI_RESOURCE ? azureBase(env.AZURE_OPENAI_RESOURCE) : undefined);
  add(azureProvider({
    pool: buildPool("azure", keys.get("azure"), standard("AZURE_OPENAI_API_KEY"), azureResolver(env, azureDefault), cooldowns),
    defaultBase: azureDefault,
    apiVersion: env.AZURE_OPENAI_API_VERSION || AZURE_DEFAULT_API_VERSION,
    deployments: listVar(env.AZURE_OPENAI_DEPLOYMENTS),
  }));
  // A service account when one is set, else an express-mode API key.
  const vertexDefault = secretValue(env, "VERTEX_SERVICE_ACCOUNT") ? standard("VERTEX_SERVICE_ACCOUNT") : standard("VERTEX_API_KEY");
  const vertexResolve = vertexResolver(env, { project: env.VERTEX_PROJECT || undefined, location: env.VERTEX_LOCATION || undefined });
  add(vertexProvider({ pool: buildPool("vertex", keys.get("vertex"), vertexDefault, vertexResolve, cooldowns), baseUrl: env.VERTEX_BASE_URL || undefined }));
  let region = env.BEDROCK_REGION || BEDROCK_DEFAULT_REGION;
  if (!isRegion(region)) {
    console.error(`config BEDROCK_REGION "${region.slice(0, 40)}" is not an AWS region; ${BEDROCK_DEFAULT_REGION} applies`);
    region = BEDROCK_DEFAULT_REGION;
  }
  // An access key pair when one is set, else a Bedrock API key.
  const bedrockDefault = secretValue(env, "AWS_ACCESS_KEY_ID")
    ? [{
      label: "default", access_key_id_secret: "AWS_ACCESS_KEY_ID", secret_access_key_secret: "AWS_SECRET_ACCESS_KEY",
      ...(secretValue(env, "AWS_SESSION_TOKEN") ? { session_token_secret: "AWS_SESSION_TOKEN" } : {}),
    }]
    : standard("AWS_BEARER_TOKEN_BEDROCK");
  add(bedrockProvider({
    pool: buildPool("bedrock", keys.get("bedrock"), bedrockDefault, bedrockResolver(env, region), cooldowns),
    region,
    baseUrl: env.BEDROCK_BASE_URL || undefined,
  }));
  add(workersAiProvider(isAiBinding(env.AI) ? env.AI : undefined));
  for (const h of compatibleHosts(env)) {
    // `mock` stays the built-in's name while it is off, too.
    if (providers.has(h.name) || h.name === "mock" || RESERVED_NAMES.has(h.name)) {
      console.error(`OPENAI_COMPATIBLE_PROVIDERS: "${h.name}" is a built-in provider or Gemini resource name; entry ignored`);
      continue;
    }
    // A host with neither a key_secret nor PROVIDER_KEYS entries takes no key (a local Ollama).
    const keyed = !!h.key_secret || keys.has(h.name);
    add(openaiProvider({
      name: h.name,
      baseUrl: h.base_url,
      pool: keyed ? buildPool(h.name, keys.get(h.name), h.key_secret ? standard(h.key_secret) : [], apiKey, cooldowns) : undefined,
      models: (h.models ?? []).map((id) => ({ id, displayName: id, actions: COMPAT_ACTIONS })),
      actions: COMPAT_ACTIONS,
      // Compatible hosts know `max_tokens`; `max_completion_tokens` is OpenAI's newer name.
      maxTokensField: "max_tokens",
      streamUsage: h.stream_usage ?? true,
    }));
  }
  for (const name of keys.keys()) {
    if (!providers.has(name) || name === "mock" || name === "workers-ai") {
      console.error(`config PROVIDER_KEYS: no provider "${name}" takes keys; entry ignored`);
    }
  }
  if (alertSettings(env)) for (const p of providers.values()) p.pool.onCooled = cooledListener(env);
  return {
    maxBodyBytes: positiveInt(env.MAX_BODY_BYTES, DEFAULT_MAX_BODY),
    providers,
    providerNames: new Set(providers.keys()),
    price: priceLookup(priceOverrides(env) ?? {}),
    retry: retryPolicy(env),
    liveMaxSessionMs: Math.round(positiveNumber(env.LIVE_MAX_SESSION_SECONDS, DEFAULT_LIVE_MAX_SESSION_SECONDS) * 1000),
    directKeys: env.DIRECT_KEYS === "on",
    responseCache: env.RESPONSE_CACHE !== "off",
    // Every secret any pool holds (and the admin token), known once the providers are built.
    redact: redactor([env.ADMIN_TOKEN, ...[...providers.values()].flatMap((p) => [...p.pool.secrets, ...(p.resources?.secrets ?? [])])]),
    cors: corsPolicy(env.CORS_ORIGINS),
    guardrails: parseGuardrails(env.GUARDRAILS, new Set(providers.keys())),
    logBodies: env.LOG_BUCKET !== undefined,
  };
}

/** A comma-separated list var. */
const listVar = (v: string | undefined) => (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);

const isAiBinding = (v: unknown): v is AiBinding => !!v && typeof (v as AiBinding).run === "function";

function cooldownsOf(env: Env): Cooldowns {
  return {
    rateMs: positiveInt(env.EDGEWAY_COOLDOWN_MS, DEFAULT_COOLDOWNS.rateMs, 0),
    authMs: positiveInt(env.EDGEWAY_AUTH_COOLDOWN_MS, DEFAULT_COOLDOWNS.authMs, 0),
  };
}

function retryPolicy(env: Env): RetryPolicy {
  const d = DEFAULT_RETRY_POLICY;
  return {
    retries: positiveInt(env.EDGEWAY_RETRIES, d.retries, 0),
    baseMs: positiveInt(env.EDGEWAY_RETRY_BASE_MS, d.baseMs, 0),
    maxDelayMs: positiveInt(env.EDGEWAY_RETRY_MAX_DELAY_MS, d.maxDelayMs, 0),
    deadlineMs: positiveInt(env.EDGEWAY_DEADLINE_MS, d.deadlineMs),
    timeoutMs: positiveInt(env.EDGEWAY_TIMEOUT_MS, d.timeoutMs),
  };
}

/** A whole number >= `min` (default 1); anything else (unset, garbage) is the fallback. */
function positiveInt(v: unknown, fallback: number, min = 1): number {
  const n = typeof v === "string" || typeof v === "number" ? Number(v) : NaN;
  return Number.isFinite(n) && n >= min && v !== "" ? Math.floor(n) : fallback;
}

/** A number > 0, fractions allowed; anything else is the fallback. */
function positiveNumber(v: unknown, fallback: number): number {
  const n = typeof v === "string" || typeof v === "number" ? Number(v) : NaN;
  return Number.isFinite(n) && n > 0 && v !== "" ? n : fallback;
}

/** A JSON var; a broken one is reported once per isolate and ignored rather than taking the gateway down. */
function jsonVar<T>(v: unknown, name: string): T | undefined {
  if (v === undefined || v === "") return undefined;
  if (typeof v === "object") return v as T;
  try {
    return JSON.parse(String(v)) as T;
  } catch {
    console.error(`config ${name} is not valid JSON; ignored`);
    return undefined;
  }
}

/** `PRICES` over the shipped table; a malformed one is ignored whole (a NaN cost would poison rows and budgets). */
export function priceOverrides(env: Env): PriceTable | undefined {
  const raw = jsonVar<unknown>(env.PRICES, "PRICES");
  if (raw === undefined) return undefined;
  const parsed = z.record(z.string(), Price).safeParse(raw);
  if (!parsed.success) {
    console.error(`config PRICES is invalid (${describeIssues(parsed.error.issues)}); the shipped prices apply`);
    return undefined;
  }
  return parsed.data;
}

/** One OpenAI-compatible host in `OPENAI_COMPATIBLE_PROVIDERS`. */
const CompatibleHost = z.object({
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, "name must be a lower-case provider name")),
  base_url: z.url(),
  /** Name of the secret holding the host's key; none (e.g. a local Ollama) means no key is sent. */
  key_secret: z.optional(z.string()),
  /** Model ids to list in the models route (any model may still be requested). */
  models: z.optional(z.array(z.string())),
  /** Set false for hosts that reject `stream_options`. */
  stream_usage: z.optional(z.boolean()),
});
type CompatibleHost = z.infer<typeof CompatibleHost>;

const COMPAT_ACTIONS = ["generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"] as const;

function compatibleHosts(env: Env): CompatibleHost[] {
  const raw = jsonVar<unknown>(env.OPENAI_COMPATIBLE_PROVIDERS, "OPENAI_COMPATIBLE_PROVIDERS");
  if (raw === undefined) return [];
  const parsed = z.array(CompatibleHost).safeParse(raw);
  if (!parsed.success) {
    console.error(`config OPENAI_COMPATIBLE_PROVIDERS is invalid (${describeIssues(parsed.error.issues)}); ignored`);
    return [];
  }
  return parsed.data;
}

/** `CORS_ORIGINS` as a policy; undefined (CORS off) when unset or empty. Entries that are not origins are dropped. */
function corsPolicy(value: unknown): CorsPolicy | undefined {
  if (typeof value !== "string") return undefined;
  const entries = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (entries.includes("*")) return { any: true };
  const origins = new Set<string>();
  for (const e of entries) {
    const origin = originOf(e);
    if (origin) origins.add(origin);
    else console.error(`config CORS_ORIGINS: "${e.slice(0, 100)}" is not an origin (scheme://host[:port]); ignored`);
  }
  return origins.size ? { any: false, origins } : undefined;
}

function originOf(s: string): string | undefined {
  try {
    const u = new URL(s);
    return u.origin === "null" ? undefined : u.origin;
  } catch {
    return undefined;
  }
}
