/**
 * Everything derived from the Worker's vars and secrets, parsed once per isolate (keyed by the env object, which
 * the runtime reuses across requests) and never on the hot path.
 */
import * as z from "zod/mini";
import type { Env } from "./env";
import { ANTHROPIC_DEFAULT_BASE_URL, anthropicProvider } from "./providers/anthropic";
import { GEMINI_DEFAULT_BASE_URL, geminiProvider } from "./providers/gemini";
import { mockProvider } from "./providers/mock";
import { OPENAI_DEFAULT_BASE_URL, openaiProvider } from "./providers/openai";
import { OPENAI_MODELS } from "./providers/openai/models";
import type { Provider } from "./providers/types";
import { describeIssues } from "./gemini/schema";
import { redactor, type Redactor } from "./gemini/redact";
import { RESERVED_NAMES } from "./plan/target";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./pipeline/retry-policy";
import { DEFAULT_PRICES, priceLookup, type PriceLookup, type PriceTable } from "./usage/prices";

/** What `CORS_ORIGINS` allows: any origin, or these (as `URL.origin` writes them). */
export type CorsPolicy = { any: true } | { any: false; origins: ReadonlySet<string> };

export interface Config {
  maxBodyBytes: number;
  providers: ReadonlyMap<string, Provider>;
  /** Names a path may put first: `/genai/{v}/{provider}/{model}:{action}`. */
  providerNames: ReadonlySet<string>;
  /** USD per 1M tokens for provider/model; undefined for an unknown model (which then costs 0). */
  price: PriceLookup;
  /** Retries, backoff and time limits of the attempt loop. */
  retry: RetryPolicy;
  /** Which browser origins may call the inference routes (`CORS_ORIGINS`); undefined: CORS is off. */
  cors?: CorsPolicy;
  /** Takes every configured secret (provider keys, the admin token) out of text a caller or the usage log sees. */
  redact: Redactor;
}

/**
 * 12 MiB: a call holds about 2× its body at its peak (the raw text while it is parsed, then the parsed body alone:
 * the upstream body is written out as it is sent), so 4 calls with the largest body fit a 128 MB isolate with room
 * for the isolate's own heap (bench/memory.mjs; README "Limits").
 */
export const DEFAULT_MAX_BODY = 12 * 1024 * 1024;

/** Provider names an OpenAI-compatible host may not take, whether or not that provider is on. */
const BUILT_IN = new Set(["gemini", "mock", "openai", "anthropic"]);

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
  const secrets = [env.GEMINI_API_KEY, env.OPENAI_API_KEY, env.ANTHROPIC_API_KEY, env.ADMIN_TOKEN];
  add(geminiProvider({ baseUrl: env.GEMINI_BASE_URL || GEMINI_DEFAULT_BASE_URL, apiKey: env.GEMINI_API_KEY }));
  // Free and offline, so never on unless asked for (`npm start` asks; wrangler.toml does not).
  if (env.MOCK_PROVIDER === "on") add(mockProvider());
  add(openaiProvider({
    name: "openai", baseUrl: env.OPENAI_BASE_URL || OPENAI_DEFAULT_BASE_URL, apiKey: env.OPENAI_API_KEY, keyRequired: true, models: OPENAI_MODELS,
    // o-series and gpt-5 reason; gpt-4o/gpt-4.1 refuse reasoning_effort, and only gpt-5 knows `minimal`.
    reasoning: { models: /^(o\d|gpt-5)/, minimal: /^gpt-5/ },
  }));
  add(anthropicProvider({ baseUrl: env.ANTHROPIC_BASE_URL || ANTHROPIC_DEFAULT_BASE_URL, apiKey: env.ANTHROPIC_API_KEY }));
  for (const h of compatibleHosts(env)) {
    if (providers.has(h.name) || BUILT_IN.has(h.name) || RESERVED_NAMES.has(h.name)) {
      console.error(`OPENAI_COMPATIBLE_PROVIDERS: "${h.name}" is a built-in provider or Gemini resource name; entry ignored`);
      continue;
    }
    const apiKey = h.key_secret ? env[h.key_secret] : undefined;
    if (typeof apiKey === "string") secrets.push(apiKey);
    add(openaiProvider({
      name: h.name,
      baseUrl: h.base_url,
      apiKey: typeof apiKey === "string" && apiKey ? apiKey : undefined,
      keyRequired: !!h.key_secret,
      models: (h.models ?? []).map((id) => ({ id, displayName: id, actions: COMPAT_ACTIONS })),
      actions: COMPAT_ACTIONS,
      // Compatible hosts know `max_tokens`; `max_completion_tokens` is OpenAI's newer name.
      maxTokensField: "max_tokens",
      streamUsage: h.stream_usage ?? true,
    }));
  }
  return {
    maxBodyBytes: positiveInt(env.MAX_BODY_BYTES, DEFAULT_MAX_BODY),
    providers,
    providerNames: new Set(providers.keys()),
    price: priceLookup({ ...DEFAULT_PRICES, ...priceOverrides(env) }),
    retry: retryPolicy(env),
    redact: redactor(secrets),
    cors: corsPolicy(env.CORS_ORIGINS),
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

const Price = z.object({
  input: z.number().check(z.gte(0)),
  output: z.number().check(z.gte(0)),
  cached_input: z.optional(z.number().check(z.gte(0))),
});

/** `PRICES` over the shipped table; a malformed one is ignored whole (a NaN cost would poison rows and budgets). */
function priceOverrides(env: Env): PriceTable | undefined {
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
export function corsPolicy(value: unknown): CorsPolicy | undefined {
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
