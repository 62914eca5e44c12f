/** Bindings, vars and secrets of the Worker, typed once. Names are fixed by shared/contract.md. */
import type { Governor } from "./governance/governor";
import type { UsageBuffer } from "./usage/buffer";

export interface Env {
  VIRTUAL_KEYS: KVNamespace;
  DB: D1Database;
  /** Per-key and per-team governance counters (src/governance/governor.ts). */
  GOVERNOR: DurableObjectNamespace<Governor>;
  /** Where usage rows and refusal counts wait until a shard's alarm writes them to D1 (src/usage/buffer.ts). */
  USAGE_BUFFER: DurableObjectNamespace<UsageBuffer>;

  GEMINI_API_KEY?: string;
  OPENAI_API_KEY?: string;
  ANTHROPIC_API_KEY?: string;
  GEMINI_BASE_URL?: string;
  OPENAI_BASE_URL?: string;
  ANTHROPIC_BASE_URL?: string;
  ADMIN_TOKEN?: string;

  /** `on` serves the built-in offline `mock` provider; anything else (the default) leaves it out. */
  MOCK_PROVIDER?: string;

  /** Browser origins allowed to call /genai (comma-separated, or `*`); unset or empty: no CORS. */
  CORS_ORIGINS?: string;

  /** Largest accepted request body in bytes (default 12 MiB: 4 such calls fit one 128 MB isolate). */
  MAX_BODY_BYTES?: string;

  /** Retries and time limits of the attempt loop (see src/pipeline/retry-policy.ts); whole numbers. */
  EDGEWAY_RETRIES?: string;
  EDGEWAY_RETRY_BASE_MS?: string;
  EDGEWAY_RETRY_MAX_DELAY_MS?: string;
  EDGEWAY_DEADLINE_MS?: string;
  EDGEWAY_TIMEOUT_MS?: string;

  /** JSON price table merged over the shipped one: {"provider/model": {input, output, cached_input}} per 1M tokens. */
  PRICES?: string;

  /**
   * JSON array of OpenAI-compatible hosts, each `{name, base_url, key_secret?, models?, stream_usage?}`; `key_secret`
   * names the secret holding that host's key.
   */
  OPENAI_COMPATIBLE_PROVIDERS?: string;

  /** Any other var or secret, e.g. the key secret a configured OpenAI-compatible host names. */
  [name: string]: unknown;
}

/** The Hono app's types: bindings, and what the /genai middleware puts on `c.var`. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    startedAt: number;
    config: import("./config").Config;
  };
}
