/**
 * Admission of one call against its key and its team, through the isolate's leases:
 *  1. `check()`, before the request body is read: the key's status and whether a request slot is there to take
 *     — a revoked key, or one at its rate limit, costs no body read and no round trip while its lease is fresh.
 *  2. `admit(need)`, once the call is planned: takes the slot and reserves the call's worst-case tokens and cost
 *     (both subjects, or neither: what one took is given back when the other refuses).
 *  3. `verified()`, before the first byte goes to the client: a lease that was being fetched in the background
 *     (a key or team without limits makes no blocking round trip) has answered, and allowed the call.
 *  4. `finish(actual)`, when the call has ended: the reservation is replaced by what the call used.
 * Refusals are GatewayErrors with the contract's statuses; a Governor that cannot be reached is a 503 (fail closed).
 */
import { inGrace, keyUnusableReason, type KeyRecord } from "../keys/key-record";
import type { Env } from "../env";
import { GatewayError } from "../gemini/errors";
import type { SettleRefs } from "../usage/row";
import { clock } from "./clock";
import { LEASE_MS, severity } from "./ledger";
import { GovernorUnavailable, leaseFor, leaseStats, type LocalLease } from "./lease";
import { limitsOf, meters, type Amounts, type Refusal } from "./protocol";
import { TeamStore } from "./team-store";

/** A call's worst case: what `admit` reserves. */
export interface CallNeed {
  tokens: number;
  usd: number;
}

const NONE: Amounts = Object.freeze({ requests: 0, tokens: 0, usd: 0 });

/** What the pipeline asks of a call's admission: a `Gate`, or a direct call's (src/auth/direct.ts `ungoverned`). */
export type CallGate = Pick<Gate, "check" | "admit" | "verified" | "finish" | "record" | "budgeted">;

export class Gate {
  private readonly keyLease: LocalLease;
  private teamLease: LocalLease | undefined;
  /** Lease renewals a first byte must wait for (keys and teams without limits are not waited for up front). */
  private pending: Promise<void>[] = [];
  /** What this call took from each lease. */
  private readonly took = new Map<LocalLease, Amounts>();
  private need: CallNeed | undefined;
  private heartbeat: ReturnType<typeof setTimeout> | undefined;
  private ended = false;

  constructor(
    private readonly env: Env,
    private readonly waitUntil: (p: Promise<unknown>) => void,
    /** The record the caller's secret resolved to (KV, maybe stale). */
    private readonly presented: KeyRecord,
  ) {
    this.keyLease = leaseFor("key", presented.id);
    this.keyLease.fallbackRecord = presented;
  }

  /** The key's record as its Governor last said (allow-lists, team, fallbacks), else as KV says. */
  get record(): KeyRecord {
    return this.keyLease.grant?.record ?? this.presented;
  }

  /** Whether the key or its team has a budget: then only priced models may be called. */
  get budgeted(): boolean {
    return !!(this.keyLease.grant?.limits.budget ?? this.presented.budget) || !!this.teamLease?.grant?.limits.budget;
  }

  /**
   * `room`: whether the call needs room left (a slot, a token, a cent) to be let in; false for a call that rides on
   * one admitted before it (an upload's chunks), which is still refused when the key may not be used at all.
   */
  async check(room = true): Promise<void> {
    leaseStats.calls++;
    await this.fetchLease(this.keyLease, !this.keyLease.grant && !meters(limitsOf(this.presented)));
    this.assertKeyStatus();
    const teamId = this.record.team_id;
    if (teamId) {
      this.teamLease = leaseFor("team", teamId);
      const whole = this.teamLease.wholeRefusal();
      if (whole) throw refusalError(whole);
      const unlimited = !this.teamLease.grant && !(await teamMeters(this.env, teamId));
      await this.fetchLease(this.teamLease, unlimited);
    }
    this.assertNoWholeRefusal();
    if (!room) return;
    // Nothing left (a slot, a token, a cent): refused without reading the body, and while the refusal is fresh
    // without asking the Governor again.
    for (const l of this.leases()) {
      const limits = l.grant?.limits;
      const least: Amounts = { requests: limits?.rpm != null ? 1 : 0, tokens: limits?.tpm != null ? 1 : 0, usd: limits?.budget ? 1e-9 : 0 };
      if (l.fits(least)) continue;
      let r = l.refusalFor(least);
      if (!r) {
        await this.renew(l, least);
        if (!l.fits(least)) r = l.refusalFor(least);
      }
      if (r) throw refusalError(r);
    }
  }

  /** Takes the request slot and reserves `need` from the key's and the team's leases, or throws the refusal. */
  async admit(need: CallNeed): Promise<void> {
    this.need = need;
    await this.take(this.leases());
    for (const l of this.leases()) {
      l.inFlight++;
      if (l.wantsRefresh()) this.background(l);
    }
    // Only a call holding tokens or dollars needs its leases kept alive while it runs.
    if ([...this.took.values()].some((t) => t.tokens > 0 || t.usd > 0)) this.beat();
  }

  /**
   * Reserves `more` on top of what the call holds, for a long call that spends as it goes (a Live session), or
   * throws the refusal (402/429) — then the caller ends the call.
   */
  async grow(more: CallNeed): Promise<void> {
    await this.take(this.leases().filter((l) => this.took.has(l)), more);
  }

  /**
   * A long call's periodic check (a Live session): its stale leases, the key's and the team's, are renewed (a
   * Governor out of reach leaves the last answer standing), then it throws when the key may no longer be used or a
   * Governor refused its lease outright (the key's team was deleted). So a revocation, or the deletion, ends the call
   * within a lease's life.
   */
  async recheck(): Promise<void> {
    await Promise.all(this.leases().filter((l) => !l.fresh()).map((l) => this.background(l)));
    this.assertKeyStatus();
    this.assertNoWholeRefusal();
  }

  /** Before the first byte: background renewals answered, and they allow the call. */
  async verified(): Promise<void> {
    if (!this.pending.length) return;
    const pending = this.pending;
    this.pending = [];
    try {
      await Promise.all(pending);
    } catch (e) {
      throw unavailable(e);
    }
    this.assertKeyStatus();
    this.assertNoWholeRefusal();
    // Limits the call was admitted without (KV did not show them yet): apply them now.
    if (this.need) await this.take(this.leases().filter((l) => !this.took.has(l) && l.grant && meters(l.grant.limits)));
  }

  /** The call ended with `actual` tokens and cost: what the usage row settles, and where. */
  finish(actual: CallNeed): SettleRefs | undefined {
    if (this.ended) return undefined;
    this.ended = true;
    clearTimeout(this.heartbeat);
    let refs: SettleRefs | undefined;
    for (const [l, took] of this.took) {
      // The row settles with the subject's Governor when the lease meters tokens or dollars, and also when the lease
      // is stale (an admin write here invalidated it, or it lapsed during a long call): a budget may have been set
      // meanwhile, and the Governor that counted the spend already in the log when it was set did not see this call.
      const limits = l.grant?.limits;
      const settles = !limits || !l.fresh() || limits.tpm !== null || limits.budget !== null;
      l.finish(took, actual, settles);
      l.inFlight--;
      if (settles) (refs ??= {})[l.subject] = l.id;
      if (l.wantsRefresh()) this.background(l);
    }
    return refs;
  }

  // ---- internals

  private leases(): LocalLease[] {
    return this.teamLease ? [this.keyLease, this.teamLease] : [this.keyLease];
  }

  /**
   * A lease that is not fresh is renewed: in the background when the subject is known to set no limits (the first
   * byte then waits for it), else before going on.
   */
  private async fetchLease(l: LocalLease, unlimitedAsFarAsKnown: boolean): Promise<void> {
    const stale = l === this.keyLease && this.recordIsNewer();
    if (l.fresh() && !stale) return;
    const wasUnlimited = l.grant ? !meters(l.grant.limits) : unlimitedAsFarAsKnown;
    if (wasUnlimited && !stale) {
      const p = this.renew(l, NONE, false);
      p.catch(() => {}); // awaited (and its failure answered) by verified()
      this.pending.push(p);
    }
    else await this.renew(l, NONE);
  }

  /** KV already shows a later rotation or revision than the lease: the lease is stale. */
  private recordIsNewer(): boolean {
    const g = this.keyLease.grant?.record;
    if (!g) return false;
    return (this.presented.rotations ?? 0) > (g.rotations ?? 0) || (this.presented.revision ?? 0) > (g.revision ?? 0);
  }

  /** A Governor that refused a lease outright (the key's team was deleted) refuses every call under it. */
  private assertNoWholeRefusal(): void {
    for (const l of this.leases()) {
      const whole = l.wholeRefusal();
      if (whole) throw refusalError(whole);
    }
  }

  private assertKeyStatus(): void {
    const g = this.keyLease.grant?.record;
    const presented = this.presented.rotations ?? 0;
    // A rotated-away secret is refused, unless it is the one the last rotation gave a grace that has not ended.
    if (g && presented < (g.rotations ?? 0) && !inGrace(g, presented, clock.now())) {
      throw new GatewayError(401, "API key not valid (it was rotated)");
    }
    const why = keyUnusableReason(this.record, clock.now());
    if (why) throw new GatewayError(403, why);
  }

  /**
   * Takes what the call needs from every lease at once, or from none: leases without room are renewed first, and
   * the takes happen together, with nothing awaited in between (so no other call, and no report, sees half).
   */
  private async take(leases: LocalLease[], extra?: CallNeed): Promise<void> {
    const need = extra ?? this.need!;
    const want = (l: LocalLease): Amounts => {
      const limits = l.grant?.limits;
      return {
        requests: !extra && limits?.rpm != null ? 1 : 0,
        tokens: limits?.tpm != null ? need.tokens : 0,
        usd: limits?.budget ? need.usd : 0,
      };
    };
    for (let round = 0; ; round++) {
      const short = leases.filter((l) => !l.fits(want(l)));
      if (!short.length) {
        for (const l of leases) {
          const w = want(l);
          l.take(w);
          const had = this.took.get(l);
          this.took.set(l, had ? { requests: had.requests + w.requests, tokens: had.tokens + w.tokens, usd: had.usd + w.usd } : w);
        }
        return;
      }
      const refusals = short.map((l) => l.refusalFor(want(l))).filter((r): r is Refusal => !!r);
      if (refusals.length || round === 3) {
        const r = refusals.sort(severity)[0] ?? { ok: false, code: 503, message: "governance could not grant this call; try again" };
        throw refusalError(r, { requests: 1, ...need });
      }
      await Promise.all(short.map((l) => this.renew(l, want(l))));
    }
  }

  private async renew(l: LocalLease, need: Amounts, blocking = true): Promise<void> {
    try {
      await l.renew(this.env, need, blocking, this.waitUntil);
    } catch (e) {
      throw unavailable(e);
    }
  }

  /** Renews `l` without failing the call: a Governor out of reach leaves the last answer standing (logged). */
  private background(l: LocalLease): Promise<void> {
    return l.renew(this.env, NONE, false, this.waitUntil).catch((e) => console.error(`lease ${l.subject} ${l.subjectId}: renewal failed`, String(e)));
  }

  /** While the call is in flight its leases stay renewed, so what it holds is never taken for lapsed. */
  private beat(): void {
    this.heartbeat = setTimeout(() => {
      if (this.ended) return;
      for (const l of this.took.keys()) if (!l.fresh(clock.now() + LEASE_MS / 2)) this.background(l);
      this.beat();
    }, LEASE_MS / 2);
  }
}

/** Whether a team sets any limit, as KV says (cached per isolate): decides whether its first lease is waited for. */
async function teamMeters(env: Env, id: string): Promise<boolean> {
  const t = await new TeamStore(env.VIRTUAL_KEYS).cachedGet(id);
  return !t || meters(limitsOf(t));
}

function unavailable(e: unknown): GatewayError {
  if (e instanceof GatewayError) return e;
  console.error("governor unavailable", e instanceof GovernorUnavailable ? e.message : String(e));
  return new GatewayError(503, "governance unavailable, try again");
}

/** A Governor's refusal as the contract's error; a 429 says (and a header tells) how long to wait, from now. */
export function refusalError(r: Refusal, need?: Amounts): GatewayError {
  const now = clock.now();
  const wait = r.retryAt === undefined ? undefined : Math.max(1, Math.ceil((r.retryAt - now) / 1000));
  let message = r.message;
  if (r.code === 429 && wait !== undefined) message += `; retry after ${wait} s`;
  if (r.code === 402 && need?.usd) message += `; this call may cost up to $${fmtUsd(need.usd)} (its input estimate and output cap at the model's prices)`;
  const headers = wait !== undefined && (r.code === 429 || r.code === 402) ? { "retry-after": String(wait) } : undefined;
  return new GatewayError(r.code, message, { headers });
}

const fmtUsd = (n: number) => n.toFixed(6).replace(/\.?0+$/, "") || "0";
