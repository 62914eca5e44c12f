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
import { RESERVED_NAMES } from "./plan/target";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./pipeline/retry-policy";
import { DEFAULT_PRICES, priceLookup, type PriceLookup, type PriceTable } from "./usage/prices";

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
}

const DEFAULT_MAX_BODY = 20 * 1024 * 1024;
/** 15 minutes: Gemini's own limit for an audio session (its connections end sooner, with a goAway, and resume). */
export const DEFAULT_LIVE_MAX_SESSION_SECONDS = 900;

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
  add(geminiProvider({ baseUrl: env.GEMINI_BASE_URL || GEMINI_DEFAULT_BASE_URL, apiKey: env.GEMINI_API_KEY }));
  add(mockProvider());
  add(openaiProvider({
    name: "openai", baseUrl: env.OPENAI_BASE_URL || OPENAI_DEFAULT_BASE_URL, apiKey: env.OPENAI_API_KEY, keyRequired: true, models: OPENAI_MODELS,
    // o-series and gpt-5 reason; gpt-4o/gpt-4.1 refuse reasoning_effort, and only gpt-5 knows `minimal`.
    reasoning: { models: /^(o\d|gpt-5)/, minimal: /^gpt-5/ },
  }));
  add(anthropicProvider({ baseUrl: env.ANTHROPIC_BASE_URL || ANTHROPIC_DEFAULT_BASE_URL, apiKey: env.ANTHROPIC_API_KEY }));
  for (const h of compatibleHosts(env)) {
    if (providers.has(h.name) || RESERVED_NAMES.has(h.name)) {
      console.error(`OPENAI_COMPATIBLE_PROVIDERS: "${h.name}" is a built-in provider or Gemini resource name; entry ignored`);
      continue;
    }
    const apiKey = h.key_secret ? env[h.key_secret] : undefined;
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
    liveMaxSessionMs: Math.round(positiveNumber(env.LIVE_MAX_SESSION_SECONDS, DEFAULT_LIVE_MAX_SESSION_SECONDS) * 1000),
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

const Price = z.object({
  input: z.number().check(z.gte(0)),
  output: z.number().check(z.gte(0)),
  cached_input: z.optional(z.number().check(z.gte(0))),
  input_audio: z.optional(z.number().check(z.gte(0))),
  output_audio: z.optional(z.number().check(z.gte(0))),
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
