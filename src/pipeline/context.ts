/** What every stage of one inference call shares. Built once per request by the route. */
import type { DirectKeys } from "../auth/direct";
import type { KeyRecord } from "../keys/key-record";
import type { Config } from "../config";
import type { Env } from "../env";
import type { Action } from "../gemini/schema";
import type { CallGate } from "../governance/gate";

/**
 * What a usage row needs: known as soon as the key is, even when the rest of the request turns out to be bad
 * (then `action` is whatever the path said).
 */
export interface CallScope {
  requestId: string;
  startedAt: number;
  env: Env;
  config: Config;
  /** The key's record: the Governor's (authoritative) once admission has heard from it, else KV's. */
  key: KeyRecord;
  /** The call's admission against its key and team (src/governance/gate.ts); a direct call's admits everything. */
  gate: CallGate;
  action: string;
  /** The canonical `provider/model` when the model parsed, else the caller's string (bounded). */
  requestedModel: string;
  stream: boolean;
  /** Input tokens as estimated before the call: what an aborted call is charged when the provider never said. */
  inputTokens?: number;
  /** Keeps work alive after the response (usage rows, lease renewals). */
  waitUntil(p: Promise<unknown>): void;
  /**
   * The caller's own provider keys when the call is a direct one (`DIRECT_KEYS=on` and no virtual key): each the
   * upstream credential of the attempts at its provider only, never governed, logged or stored. `key` is then a
   * stand-in record.
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
