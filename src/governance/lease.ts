/**
 * The isolate's side of leases: one per subject (`key:<id>`, `team:<id>`), kept for the isolate's life. Calls spend
 * it locally — a request slot, a reservation of their worst-case tokens and dollars — and it is renewed with the
 * subject's Governor when it runs low, when half its life has passed, or when calls wait for more. Renewals are
 * coalesced: however many calls wait, one round trip at a time per subject.
 */
import type { Env } from "../env";
import { clock } from "./clock";
import { LEASE_MS } from "./ledger";
import type { Amounts, LeaseAnswer, LeaseAsk, LeaseGrant, Refusal } from "./protocol";
import type { Subject } from "./governor";

/** How long a refusal is served from the isolate before the Governor is asked again. */
const REFUSAL_CACHE_MS = 1_000;
/** A renewal older than this is taken for lost; the next call starts another. */
const STUCK_MS = 10_000;

/** This isolate's governed calls, and its round trips to Governors: all of them, and those a call waited for. */
export const leaseStats = { calls: 0, requests: 0, blocking: 0 };

type Dim = keyof Amounts;
const DIMS: readonly Dim[] = ["requests", "tokens", "usd"];
const none = (): Amounts => ({ requests: 0, tokens: 0, usd: 0 });

export class LocalLease {
  readonly id = crypto.randomUUID();
  /** The latest grant; undefined until the first answer. */
  grant: LeaseGrant | undefined;
  expiresAt = 0;
  private renewedAt = 0;
  /** Cumulative amounts granted (Infinity where the subject sets no limit; nothing before the first grant) and used. */
  private granted: Amounts = none();
  readonly used: Amounts = none();
  /** When the slots taken since the last report were taken (the Governor counts each from then). */
  private uses: [number, number][] = [];
  /** Held by calls in flight. */
  readonly reserved: Pick<Amounts, "tokens" | "usd"> = { tokens: 0, usd: 0 };
  /** What the Governor could not give, served here until `until`. */
  private refused: { refusal: Refusal; dims: Set<Dim>; until: number } | undefined;
  private renewing: Promise<void> | undefined;
  private renewingSince = 0;
  private waiting: Amounts = none();
  private typical = { tokens: 0, usd: 0 };
  /** What was left right after the last renewal, per dimension. */
  private slice: Amounts = none();
  private callsSinceRenew = 0;
  inFlight = 0;
  /** The key record the isolate authenticated with: adopted by a Governor that has none (keys from before). */
  fallbackRecord: LeaseAsk["record"];

  constructor(
    readonly subject: Subject,
    readonly subjectId: string,
  ) {}

  fresh(now = clock.now()): boolean {
    return !!this.grant && now < this.expiresAt;
  }

  /** Forces the next call to renew (an admin write in this isolate changed the subject). */
  invalidate(): void {
    this.expiresAt = 0;
    this.refused = undefined;
  }

  /** Whether `need` fits what is granted, counting what calls in flight hold. */
  fits(need: Amounts): boolean {
    return (
      this.used.requests + need.requests <= this.granted.requests &&
      this.used.tokens + this.reserved.tokens + need.tokens <= this.granted.tokens &&
      this.used.usd + this.reserved.usd + need.usd <= this.granted.usd + 1e-12
    );
  }

  /** The refusal still served for `need`, if any (one of the whole lease applies to any need). */
  refusalFor(need: Amounts, now = clock.now()): Refusal | undefined {
    const r = this.refused;
    if (!r || now >= r.until) return undefined;
    return !this.grant || DIMS.some((d) => need[d] > 0 && r.dims.has(d)) ? r.refusal : undefined;
  }

  /** The Governor's refusal of the whole lease (a deleted team, an unknown key) while it is served from here. */
  wholeRefusal(now = clock.now()): Refusal | undefined {
    const r = this.refused;
    return !this.grant && r && now < r.until ? r.refusal : undefined;
  }

  /** Takes `need` (a slot, a reservation) when it fits; false otherwise. */
  take(need: Amounts): boolean {
    if (!this.fits(need)) return false;
    this.used.requests += need.requests;
    if (need.requests) this.noteUse(clock.now(), need.requests);
    this.reserved.tokens += need.tokens;
    this.reserved.usd += need.usd;
    this.callsSinceRenew++;
    if (need.tokens) this.typical.tokens = this.typical.tokens ? (this.typical.tokens * 3 + need.tokens) / 4 : need.tokens;
    if (need.usd) this.typical.usd = this.typical.usd ? (this.typical.usd * 3 + need.usd) / 4 : need.usd;
    return true;
  }

  /**
   * A call ended: its reservation is replaced by what it really used, counted as used here exactly when its row
   * will settle under this lease (`settles`). What the lease reports used and the Governor has not settled is what
   * it holds, so the two must count the same calls: a call counted here but never settled would be held for the
   * lease's life, and one settled but not counted here would give the lease room it does not have.
   */
  finish(reserved: Amounts, actual: Pick<Amounts, "tokens" | "usd">, settles: boolean): void {
    this.reserved.tokens -= reserved.tokens;
    this.reserved.usd -= reserved.usd;
    if (!settles) return;
    this.used.tokens += actual.tokens;
    this.used.usd += actual.usd;
  }

  private noteUse(ts: number, n: number): void {
    const last = this.uses[this.uses.length - 1];
    if (last && last[0] === ts) last[1] += n;
    else this.uses.push([ts, n]);
    // Bounded: past 256 entries, neighbours merge at the later time (a slot may count a little late, never early).
    if (this.uses.length > 256) {
      const merged: [number, number][] = [];
      for (let i = 0; i < this.uses.length; i += 2) {
        const a = this.uses[i]!;
        const b = this.uses[i + 1];
        merged.push(b ? [b[0], a[1] + b[1]] : a);
      }
      this.uses = merged;
    }
  }

  /** Whether to renew ahead of need: half the lease's life gone, or a quarter of the last slice left. */
  wantsRefresh(now = clock.now()): boolean {
    if (this.renewing || !this.grant) return false;
    if (now - this.renewedAt >= LEASE_MS / 2) return true;
    return DIMS.some((d) => this.granted[d] !== Infinity && this.left(d) < this.slice[d] / 4);
  }

  private left(d: Dim): number {
    return this.granted[d] - this.used[d] - (d === "requests" ? 0 : this.reserved[d]);
  }

  /**
   * One round trip to the Governor asking for `need` on top of what is held (joined with the needs of other calls
   * waiting at the same time). Rejects only when the Governor cannot be reached. `waitUntil` belongs to the request
   * that starts the round trip: it keeps that request alive until the answer is in, because other requests of the
   * isolate may be waiting for the same answer (I/O in Workers belongs to the request that started it).
   */
  renew(env: Env, need: Amounts, blocking: boolean, waitUntil: (p: Promise<unknown>) => void): Promise<void> {
    for (const d of DIMS) this.waiting[d] += need[d];
    if (blocking) leaseStats.blocking++;
    const now = clock.now();
    // A round trip that never came back (its request was cut off) must not hold every later call.
    if (this.renewing && now - this.renewingSince > STUCK_MS) this.renewing = undefined;
    if (!this.renewing) {
      this.renewingSince = now;
      let run!: Promise<void>;
      run = (async () => {
        // Let the calls arriving in the same turn join this round trip.
        await Promise.resolve();
        const asked = this.waiting;
        this.waiting = none();
        try {
          this.apply(await this.ask(env, asked), asked);
        } finally {
          if (this.renewing === run) this.renewing = undefined;
        }
      })();
      this.renewing = run;
      waitUntil(run.catch(() => {}));
    }
    return this.renewing;
  }

  /** Resolves once no round trip is on its way. */
  async settledRenewal(): Promise<void> {
    while (this.renewing) await this.renewing.catch(() => {});
  }

  private async ask(env: Env, need: Amounts): Promise<LeaseAnswer> {
    const now = clock.now();
    const elapsed = Math.max(1, now - (this.renewedAt || now - LEASE_MS)) / 1000;
    const uses = this.uses;
    this.uses = [];
    const ask: LeaseAsk = {
      lease: this.id,
      used: { ...this.used },
      uses,
      reserved: { ...this.reserved },
      need,
      typical: this.typical,
      rate: this.callsSinceRenew / elapsed,
      ...(this.subject === "key" && this.fallbackRecord ? { record: this.fallbackRecord } : {}),
    };
    leaseStats.requests++;
    const stub = env.GOVERNOR.get(env.GOVERNOR.idFromName(`${this.subject}:${this.subjectId}`));
    try {
      return (await stub.lease(this.subject, this.subjectId, ask)) as LeaseAnswer;
    } catch (e) {
      // Not reported after all: kept for the next report.
      this.uses = uses.concat(this.uses);
      throw e;
    }
  }

  private apply(a: LeaseAnswer, asked: Amounts): void {
    const now = clock.now();
    this.callsSinceRenew = 0;
    if (!a.ok) {
      // A refusal of the whole lease (unknown key, storage unavailable): nothing is granted until asked again.
      this.refused = { refusal: a, dims: new Set(DIMS), until: now + REFUSAL_CACHE_MS };
      if (a.code === 503) throw new GovernorUnavailable(a.message);
      this.grant = undefined;
      return;
    }
    this.grant = a;
    this.renewedAt = now;
    this.expiresAt = a.expiresAt;
    this.granted = {
      requests: a.granted.requests ?? Infinity,
      tokens: a.granted.tokens ?? Infinity,
      usd: a.granted.usd ?? Infinity,
    };
    for (const d of DIMS) this.slice[d] = this.granted[d] === Infinity ? 0 : this.left(d);
    if (a.short) {
      const dims = new Set(DIMS.filter((d) => asked[d] > 0 && this.granted[d] !== Infinity));
      const until = Math.min(now + REFUSAL_CACHE_MS, a.short.retryAt ?? Infinity);
      this.refused = { refusal: a.short, dims: dims.size ? dims : new Set(DIMS), until };
    } else {
      this.refused = undefined;
    }
  }
}

/** The Governor answered that its storage is unavailable, or could not be reached. */
export class GovernorUnavailable extends Error {}

const leases = new Map<string, LocalLease>();
const MAX_LEASES = 10_000;

export function leaseFor(subject: Subject, id: string): LocalLease {
  const k = `${subject}:${id}`;
  let l = leases.get(k);
  if (!l) {
    // A bound on memory; a dropped lease's holdings lapse at the Governor when it expires.
    if (leases.size >= MAX_LEASES) for (const [name, old] of leases) if (!old.inFlight) leases.delete(name);
    l = new LocalLease(subject, id);
    leases.set(k, l);
  }
  return l;
}

/** An admin write in this isolate: the next call renews at once (other isolates within LEASE_MS). */
export function invalidateLease(subject: Subject, id: string): void {
  leases.get(`${subject}:${id}`)?.invalidate();
}

/** Reports this isolate's use of one subject's lease to its Governor now (so counters read next include it). */
export async function reportLease(env: Env, subject: Subject, id: string, waitUntil: (p: Promise<unknown>) => void): Promise<void> {
  const l = leases.get(`${subject}:${id}`);
  if (!l?.grant) return;
  await l.settledRenewal();
  await l.renew(env, none(), false, waitUntil);
}

/** Reports every lease's use to its Governor now, after any round trip already on its way (tests read counters). */
export async function reportLeases(env: Env): Promise<void> {
  await Promise.all(
    [...leases.values()].filter((l) => l.grant).map(async (l) => {
      await l.settledRenewal();
      await l.renew(env, none(), false, () => {});
    }),
  );
}
