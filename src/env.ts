/**
 * Bindings, vars and secrets of the Worker, typed once; the names are the README's (docs/configuration.md) and
 * wrangler.toml's. A foundation: it imports nothing. Each Durable Object's namespace binding (GOVERNOR,
 * USAGE_BUFFER, EPHEMERAL_TOKENS, ADMIN_TOKENS) is added to `Env` beside its class, by declaration merging, so
 * the bindings can name the classes without this file importing the stages that define them.
 */
export interface Env {
  VIRTUAL_KEYS: KVNamespace;
  DB: D1Database;
  /**
   * The usage archive (src/usage/archive.ts): rows compaction moves out of D1, and a shard's rows while D1 refuses
   * them. Without it rows stay in D1 (nothing is compacted).
   */
  USAGE_ARCHIVE?: R2Bucket;
  /**
   * Call bodies of keys and teams with `log_bodies` (src/observe/bodies.ts; docs/observability.md, "Bodies"). Unbound:
   * no body is stored and no call pays anything for the feature.
   */
  LOG_BUCKET?: R2Bucket;
  /** Days a stored body is kept (default 7): the cron deletes older ones; reads look that far back. */
  LOG_BODIES_RETENTION_DAYS?: string;
  /** Days of usage rows D1 keeps (default 7; docs/usage-log.md); older ones are in USAGE_ARCHIVE. */
  USAGE_RETENTION_DAYS?: string;

  GEMINI_API_KEY?: string;
  OPENAI_API_KEY?: string;
  ANTHROPIC_API_KEY?: string;
  GEMINI_BASE_URL?: string;
  OPENAI_BASE_URL?: string;
  ANTHROPIC_BASE_URL?: string;
  ADMIN_TOKEN?: string;
  /** Days the audit trail keeps its rows (default 365; `0` keeps them for good); pruned by the cron. */
  AUDIT_RETENTION_DAYS?: string;

  /** Azure OpenAI: resource (or a base URL), api-version, deployments to list; the key is AZURE_OPENAI_API_KEY. */
  AZURE_OPENAI_API_KEY?: string;
  AZURE_OPENAI_RESOURCE?: string;
  AZURE_OPENAI_BASE_URL?: string;
  AZURE_OPENAI_API_VERSION?: string;
  AZURE_OPENAI_DEPLOYMENTS?: string;

  /** Vertex AI: a service-account key file (JSON) or an express-mode API key; project, location, host override. */
  VERTEX_SERVICE_ACCOUNT?: string;
  VERTEX_API_KEY?: string;
  VERTEX_PROJECT?: string;
  VERTEX_LOCATION?: string;
  VERTEX_BASE_URL?: string;

  /** Amazon Bedrock: an access key pair (session token optional) or a Bedrock API key; region, host override. */
  AWS_ACCESS_KEY_ID?: string;
  AWS_SECRET_ACCESS_KEY?: string;
  AWS_SESSION_TOKEN?: string;
  AWS_BEARER_TOKEN_BEDROCK?: string;
  BEDROCK_REGION?: string;
  BEDROCK_BASE_URL?: string;

  /** Workers AI, when an `[ai]` binding named AI is added to wrangler.toml (docs/providers.md, "Workers AI"). */
  AI?: unknown;

  /** `on` serves the built-in offline `mock` provider; anything else (the default) leaves it out. */
  MOCK_PROVIDER?: string;

  /** Guardrail policies: a JSON object of named policies (README, "Guardrails"); unset: guardrails off. */
  GUARDRAILS?: string;

  /** Browser origins allowed to call /genai (comma-separated, or `*`); unset or empty: no CORS. */
  CORS_ORIGINS?: string;

  /** Largest accepted request body in bytes (default 12 MiB: 4 such calls fit one 128 MB isolate). */
  MAX_BODY_BYTES?: string;

  /** Largest file an upload may declare or send, in bytes (default 2 GiB, Gemini's per-file limit). */
  MAX_UPLOAD_BYTES?: string;
  /** A batch's usage is charged at this fraction of the interactive price, 0 to 1 (default 0.5, Gemini's batch price). */
  BATCH_PRICE_FACTOR?: string;

  /** Retries and time limits of the attempt loop (docs/fallbacks.md); whole numbers. */
  EDGEWAY_RETRIES?: string;
  EDGEWAY_RETRY_BASE_MS?: string;
  EDGEWAY_RETRY_MAX_DELAY_MS?: string;
  EDGEWAY_DEADLINE_MS?: string;
  EDGEWAY_TIMEOUT_MS?: string;

  /** The longest a Live API session may stay open, in seconds (default 900; fractions allowed). */
  LIVE_MAX_SESSION_SECONDS?: string;
  /** Cool-down of an upstream credential after a 429 without Retry-After (doubling per 429 in a row), and after a 401/403. */
  EDGEWAY_COOLDOWN_MS?: string;
  EDGEWAY_AUTH_COOLDOWN_MS?: string;

  /**
   * JSON object of credential pools, by provider: `{"gemini": [{"label", "secret", "weight"?, "models"?}, ...]}`.
   * Entries name secrets (never hold them); backends read their own extra fields (region, project, ...).
   */
  PROVIDER_KEYS?: string;

  /** `on`: a credential that is not a virtual key is the caller's own provider key for that call (no governance). */
  DIRECT_KEYS?: string;
  /** `off`: the response cache is not consulted (README, "Response cache"); on by default, per key and team policy. */
  RESPONSE_CACHE?: string;

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

/**
 * What middleware puts on `c.var`. The rest is added beside its own type, by declaration merging: for example the
 * per-isolate `config` (src/config.ts) and the admin API's `actor` (src/routes/admin/access.ts).
 */
export interface AppVariables {
  requestId: string;
  startedAt: number;
}

/** The Hono app's types: bindings, and what middleware puts on `c.var`. */
export interface AppEnv {
  Bindings: Env;
  Variables: AppVariables;
}
