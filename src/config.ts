/**
 * Everything derived from the Worker's vars and secrets, parsed once per isolate (keyed by the env object, which
 * the runtime reuses across requests) and never on the hot path.
 */
import type { Env } from "./env";
import { GEMINI_DEFAULT_BASE_URL, geminiProvider } from "./providers/gemini";
import { mockProvider } from "./providers/mock";
import type { Provider } from "./providers/types";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./pipeline/retry-policy";
import { DEFAULT_PRICES, priceLookup, type PriceLookup, type PriceTable } from "./usage/prices";

export interface Config {
  maxBodyBytes: number;
  providers: ReadonlyMap<string, Provider>;
  /** USD per 1M tokens for provider/model; undefined for an unknown model (which then costs 0). */
  price: PriceLookup;
  /** Retries, backoff and time limits of the attempt loop. */
  retry: RetryPolicy;
}

const DEFAULT_MAX_BODY = 20 * 1024 * 1024;

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
  return {
    maxBodyBytes: positiveInt(env.MAX_BODY_BYTES, DEFAULT_MAX_BODY),
    providers,
    price: priceLookup({ ...DEFAULT_PRICES, ...jsonVar<PriceTable>(env.PRICES, "PRICES") }),
    retry: retryPolicy(env),
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
