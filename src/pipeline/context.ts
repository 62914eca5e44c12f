/** What every stage of one inference call shares. Built once per request by the route. */
import type { KeyRecord } from "../auth/key-record";
import type { Config } from "../config";
import type { Env } from "../env";
import type { Action } from "../gemini/schema";

/**
 * What a usage row needs: known as soon as the key is, even when the rest of the request turns out to be bad
 * (then `action` is whatever the path said).
 */
export interface CallScope {
  requestId: string;
  startedAt: number;
  env: Env;
  config: Config;
  key: KeyRecord;
  action: string;
  requestedModel: string;
  stream: boolean;
  /** Keeps work alive after the response (usage rows, counters). */
  waitUntil(p: Promise<unknown>): void;
  /**
   * Set by admission, read by settlement: which of the call's Governors meter (count tokens or spend) and so must
   * hear of the finished call. One object shared by every view of the call (scope and context).
   */
  admission: { metered?: { key: boolean; team: boolean } };
  /**
   * The caller's own provider key when the call is a direct one (`DIRECT_KEYS=on` and no virtual key): used as the
   * upstream credential of every attempt, never governed, logged or stored. `key` is then a stand-in record.
   */
  direct?: string;
}

/** A call whose path and body are valid: it will be planned and executed. */
export interface CallContext extends CallScope {
  action: Action;
  version: string;
}
