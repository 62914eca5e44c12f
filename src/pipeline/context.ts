/** What every stage of one inference call shares. Built once per request by the route. */
import type { KeyRecord } from "../auth/key-record";
import type { Config } from "../config";
import type { Env } from "../env";
import type { Action } from "../gemini/schema";

export interface CallContext {
  requestId: string;
  startedAt: number;
  env: Env;
  config: Config;
  key: KeyRecord;
  action: Action;
  version: string;
  requestedModel: string;
  stream: boolean;
  /** Keeps work alive after the response (usage rows, counters). */
  waitUntil(p: Promise<unknown>): void;
}
