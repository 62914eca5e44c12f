/** The usage row of one call: what the usage log stores and settles with its Governors. Never holds a secret. */
import type { UsageMetadata } from "../gemini/schema";

export type Outcome = "ok" | "error" | "aborted";

export interface AttemptInfo {
  target: string;
  /** The label of the upstream credential the attempt used (never the secret); absent for keyless providers. */
  credential?: string;
  status: number;
  /** `ok`, or why this attempt did not serve (e.g. `upstream 503`, `not allowed for key`, `timeout`). */
  reason: string;
  latency_ms: number;
  /** Set when the target was passed over without an upstream call (e.g. not allowed for the key). */
  skipped?: true;
}

export interface Tokens {
  /** The prompt (Gemini's promptTokenCount), cached tokens included. */
  input: number;
  /** What was generated: the answer and thinking. */
  output: number;
  cached: number;
  thinking: number;
  /** Tokens of tool-use prompts (Gemini's `toolUsePromptTokenCount`): part of `input`, billed as input, shown apart. */
  tool_use: number;
}

export interface CallRecord {
  request_id: string;
  ts: number;
  key_id: string;
  team_id: string | null;
  requested_model: string;
  provider: string | null;
  model: string | null;
  action: string;
  stream: boolean;
  status: number;
  outcome: Outcome;
  error: string | null;
  attempts: AttemptInfo[];
  /** Index in the plan of the target that served; null when none did. */
  fallback_index: number | null;
  tokens: Tokens;
  cost_usd: number;
  /** Dimensions of the call no price covered (`model`, `input:HOLOGRAM`, `per_image`, …), comma-separated; else absent. */
  unpriced?: string;
  latency_ms: number;
  ttfb_ms: number | null;
  /** How many requests the row stands for: a batch's one row counts all of its requests; absent means one. */
  requests?: number;
  /**
   * The response cache (README, "Response cache"), on the rows of a key or team whose policy caches: `hit` (the
   * answer came from an entry: the tokens are the original's, `cost_usd` 0 and `saved_usd` what the original cost),
   * `miss` or `bypass`. Absent otherwise.
   */
  cache?: "hit" | "miss" | "bypass";
  saved_usd?: number;
  /** What guardrail policies did on the call (src/guardrails), never the matched text; absent when none acted. */
  guardrails?: GuardrailRecord[];
  /** Set on a Live API session's row: how it ended and its tokens by modality. */
  session?: SessionInfo;
  /**
   * Which Governors must hear of this call's tokens and cost, and under which lease each admitted it ("" when not
   * under a lease). Travels with the row to whoever stores it (src/usage/settle.ts); never written to D1.
   */
  settle?: SettleRefs;
}

/** One guardrail policy's actions at one stage of a call: how many of each entity it found. */
export interface GuardrailRecord {
  policy: string;
  stage: "input" | "output";
  action: "block" | "redact" | "flag";
  /** By entity (`email`, `credit_card`, …; `pattern` for a regex policy; `unsafe` or `judge_error` for a judge). */
  entities: Record<string, number>;
  /** What a judge model's calls for this policy cost (included in the row's `cost_usd`, and so in its budget). */
  cost_usd?: number;
}

/** Who ended a Live session: the caller, the provider, or the gateway (a limit, a refusal, a failure). */
export type ClosedBy = "client" | "upstream" | "gateway";

export interface SessionInfo {
  /** The WebSocket close code the session ended with, as the client saw it (or sent it). */
  close_code: number;
  closed_by: ClosedBy;
  /** Tokens by modality (`TEXT`, `AUDIO`, `IMAGE`, `VIDEO`, ...) as the provider reported them. */
  modality_tokens: ModalityTokens;
}

export interface ModalityTokens {
  input?: Record<string, number>;
  output?: Record<string, number>;
  cached?: Record<string, number>;
  tool_use?: Record<string, number>;
}

export interface SettleRefs {
  key?: string;
  team?: string;
}

export const NO_TOKENS: Tokens = Object.freeze({ input: 0, output: 0, cached: 0, thinking: 0, tool_use: 0 });

export function tokensOf(u: UsageMetadata | undefined): Tokens {
  if (!u) return NO_TOKENS;
  // Gemini's promptTokenCount excludes the tool-use prompt (what a server-side tool such as Google Search or code
  // execution fed back to the model), which is billed as input: input here is both, so it is priced once, at input.
  const toolUse = count(u.toolUsePromptTokenCount);
  const input = (u.promptTokenCount ?? 0) + toolUse;
  const thinking = u.thoughtsTokenCount ?? 0;
  // Gemini's candidatesTokenCount excludes thoughts; output here is what was generated and billed as output.
  const output = (u.candidatesTokenCount ?? 0) + thinking;
  return { input, output, cached: u.cachedContentTokenCount ?? 0, thinking, tool_use: toolUse };
}

/** An upstream's count as a whole number of tokens: anything but a finite positive number is 0, bounded. */
const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), 1e12) : 0);
