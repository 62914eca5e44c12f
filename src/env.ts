/** Bindings, vars and secrets of the Worker, typed once. Names are fixed by shared/contract.md. */
import type { Governor } from "./governance/governor";
import type { EphemeralToken } from "./live/token-store";
import type { UsageBuffer } from "./usage/buffer";

export interface Env {
  VIRTUAL_KEYS: KVNamespace;
  DB: D1Database;
  /** Per-key and per-team governance counters (src/governance/governor.ts). */
  GOVERNOR: DurableObjectNamespace<Governor>;
  /** Usage rows D1 did not take, kept until its alarm writes them (src/usage/buffer.ts). */
  USAGE_BUFFER: DurableObjectNamespace<UsageBuffer>;
  /** Live API ephemeral tokens, one object per token (src/live/token-store.ts). */
  EPHEMERAL_TOKENS: DurableObjectNamespace<EphemeralToken>;

  GEMINI_API_KEY?: string;
  OPENAI_API_KEY?: string;
  ANTHROPIC_API_KEY?: string;
  GEMINI_BASE_URL?: string;
  OPENAI_BASE_URL?: string;
  ANTHROPIC_BASE_URL?: string;
  ADMIN_TOKEN?: string;

  /** Largest accepted request body in bytes (default 20 MiB, Gemini's inline-data ceiling). */
  MAX_BODY_BYTES?: string;

  /** Retries and time limits of the attempt loop (see src/pipeline/retry-policy.ts); whole numbers. */
  EDGEWAY_RETRIES?: string;
  EDGEWAY_RETRY_BASE_MS?: string;
  EDGEWAY_RETRY_MAX_DELAY_MS?: string;
  EDGEWAY_DEADLINE_MS?: string;
  EDGEWAY_TIMEOUT_MS?: string;

  /** The longest a Live API session may stay open, in seconds (default 900; fractions allowed). */
  LIVE_MAX_SESSION_SECONDS?: string;

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
