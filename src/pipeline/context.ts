/** What every stage of one inference call shares. Opened once per request (src/http/call.ts). */
import type { DirectKeys } from "../auth/direct";
import type { Config } from "../config";
import type { Env } from "../env";
import type { Action, UsageMetadata } from "../gemini/schema";
import type { CallGate } from "../governance/gate";
import type { Target } from "../lib/target";
import type { billableOf, Cost } from "../usage/cost";
import type { Price } from "../usage/prices";
import type { AttemptInfo, Outcome, SessionInfo } from "../usage/row";

/**
 * The plain record of one call: what its usage row says of it besides its outcome. Known as soon as the key is,
 * even when the rest of the request turns out to be bad (then `action` is whatever the path said).
 */
export interface Call {
  requestId: string;
  startedAt: number;
  keyId: string;
  /** The key's team as KV said, then as its Governor said once admission has heard from it. */
  teamId: string | null;
  action: string;
  /** The canonical `provider/model` when the model parsed, else the caller's string (bounded). */
  requestedModel: string;
  stream: boolean;
  /** Input tokens as estimated before the call: what an aborted call is charged when the provider never said. */
  inputTokens?: number;
}

/** How a call ended: what its row needs beyond the call record. */
export interface CallEnd {
  target: Target | null;
  index: number | null;
  attempts: AttemptInfo[];
  status: number;
  outcome: Outcome;
  error: string | null;
  usage: UsageMetadata | undefined;
  ttfbMs: number | null;
  /** A Live session's close and tokens by modality. */
  session?: SessionInfo;
  /** The call's cost when the caller prices it itself (a Live session, turn by turn); else from `usage` and `units`. */
  priced?: (price: Price | undefined) => Cost;
  /** What the answer or request tells and usageMetadata does not: images made, seconds of video, cache storage. */
  units?: Parameters<typeof billableOf>[1];
  /** A hook answered the call before any upstream (src/hooks/hook.ts): nothing was used, nothing is priced. */
  answeredBy?: string;
}

/** The call record and what its stages work with: the Worker's bindings and config, and the call's admission. */
export interface CallScope extends Call {
  env: Env;
  config: Config;
  /** The call's admission against its key and team (src/governance/gate.ts); its `record` is the key's record. */
  gate: CallGate;
  /** Keeps work alive after the response (usage rows, lease renewals). */
  waitUntil(p: Promise<unknown>): void;
  /**
   * Hands the call's outcome to the record step, which writes its one row (src/http/call.ts); a stream or a Live
   * session calls it when it has ended. Only the first call counts.
   */
  end(outcome: CallEnd): void;
  /**
   * The caller's own provider keys when the call is a direct one (`DIRECT_KEYS=on` and no virtual key): each the
   * upstream credential of the attempts at its provider only, never governed, logged or stored. The gate's record
   * is then a stand-in.
   */
  direct?: DirectKeys;
}

/** A call whose path and body are valid: it will be planned and executed. */
export interface CallContext extends CallScope {
  action: Action;
  version: string;
  /** Fallbacks a budget may not pay for (no price): skipped. */
  unpriced?: ReadonlySet<string>;
  /** The body uses a file or cache made through the gateway: a provider that holds them is called with their credential. */
  usesResources?: boolean;
  /**
   * Takes the call's request slot and reserves its worst case; run once, before its first upstream attempt.
   * `nothing`: the call is answered without any upstream (a hook's answer): the slot only, no tokens or cost.
   */
  admit(nothing?: boolean): Promise<void>;
}
