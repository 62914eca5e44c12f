/**
 * What isolates and a subject's Governor say to each other. A lease is a running account between one isolate and
 * one subject (`key:<id>` or `team:<id>`): the Governor grants cumulative amounts (request slots, tokens, dollars),
 * the isolate spends them locally and reports what it used whenever it renews. Every answer is a value; nothing the
 * Governor does throws across the RPC boundary.
 */
import type { Budget, KeyRecord, RateLimit } from "../keys/key-record";

/** Request slots, tokens and USD. */
export interface Amounts {
  requests: number;
  tokens: number;
  usd: number;
}

export const ZERO: Readonly<Amounts> = Object.freeze({ requests: 0, tokens: 0, usd: 0 });

export interface LeaseAsk {
  /** The isolate's lease id for this subject (stable for the isolate's life). */
  lease: string;
  /** Cumulative use under this lease: slots taken, and the tokens and cost of calls that finished. */
  used: Amounts;
  /** When the slots taken since the last report were taken: [ms, count] (merged, latest time kept, past 256). */
  uses: [number, number][];
  /** Tokens and cost reserved by calls still in flight under this lease. */
  reserved: Pick<Amounts, "tokens" | "usd">;
  /** What calls waiting right now need on top (0 for a refresh ahead of need). */
  need: Amounts;
  /** What a typical call here takes, and how many calls a second the isolate sees: sizes the slice. */
  typical: Pick<Amounts, "tokens" | "usd">;
  rate: number;
  /** Keys only: the isolate's view of the record, adopted when this Governor has none (a key from before). */
  record?: KeyRecord;
}

/** What a subject meters: a null limit is no limit. */
export interface Limits {
  rpm: number | null;
  tpm: number | null;
  budget: Budget | null;
}

export interface LeaseGrant {
  ok: true;
  /** Cumulative totals this lease may use; null where the subject sets no limit. */
  granted: { requests: number | null; tokens: number | null; usd: number | null };
  expiresAt: number;
  limits: Limits;
  /** Keys: the authoritative record (status, allow-lists, team, rotations, revision); teams: their name. */
  record?: KeyRecord;
  name: string;
  /** Set when part of `need` could not be granted: the answer for the calls that did not fit. */
  short?: Refusal;
}

export interface Refusal {
  ok: false;
  code: 401 | 402 | 403 | 429 | 503;
  /** A 429's "; retry after N s" is added when the refusal is answered, counted from then. */
  message: string;
  /** When trying again may succeed (ms since the epoch): a rate window freeing, a budget period ending. */
  retryAt?: number;
}

export type LeaseAnswer = LeaseGrant | Refusal;

/** One finished call's tokens and cost for a subject, under the lease that admitted it ("" for none). */
export interface SettleItem {
  lease: string;
  tokens: number;
  usd: number;
}

/**
 * The answer of an admin write: the new record (and, for an update, the record it replaced: what the audit trail
 * shows as before), or why not (409 stale revision or revoked, 503 storage).
 */
export type WriteResult<T> = { ok: true; record: T; before?: T | null } | { ok: false; code: 400 | 404 | 409 | 503; message: string };

export interface SubjectLimits {
  rate_limit?: RateLimit | null;
  budget?: Budget | null;
}

export const limitsOf = (s: SubjectLimits | null | undefined): Limits => ({
  rpm: s?.rate_limit?.rpm ?? null,
  tpm: s?.rate_limit?.tpm ?? null,
  budget: s?.budget ?? null,
});

export const meters = (l: Limits) => l.rpm !== null || l.tpm !== null || l.budget !== null;
