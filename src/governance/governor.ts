/**
 * Governor: the Durable Object of one subject, a key (`key:<id>`) or a team (`team:<id>`). It is
 * - the one writer of the subject's record: every admin change goes through it, one at a time, each with the next
 *   revision, and it publishes the record to KV (what authentication and listings read);
 * - the source of leases: isolates renew a lease to learn the record and limits and to take a slice of what is left
 *   (src/governance/ledger.ts does the arithmetic);
 * - where finished calls are settled, once per batch of usage rows.
 * Nothing here throws across the RPC boundary: every answer is a value, and storage failures become 503 answers.
 */
import { DurableObject } from "cloudflare:workers";
import { budgetCrossings } from "../alerts/events";
import { raise, type AlertDraft } from "../alerts/outbox";
import { alertSettings } from "../alerts/settings";
import { keyUnusableReason, type KeyRecord } from "../keys/key-record";
import { KeyStore } from "../keys/key-store";
import type { Env } from "../env";
import type { Subject } from "../lib/governors";
import { clock } from "./clock";
import { hourOf, periodStart } from "./policy";
import { Ledger, type Counters } from "./ledger";
import { limitsOf, ZERO, type Amounts, type LeaseAnswer, type LeaseAsk, type Limits, type Refusal, type SettleItem, type WriteResult } from "./protocol";
import type { TeamRecord } from "./team-record";
import { TeamStore } from "./team-store";
import { usageLog } from "./usage-log";

export type { Subject };

/**
 * An admin change to a key: fields, revocation (final), or a new secret (its hash and visible prefix), the secret
 * it replaces working on for `graceMs`.
 */
export type KeyChange =
  | { kind: "patch"; fields: Partial<KeyRecord> }
  | { kind: "revoke" }
  | { kind: "rotate"; hash: string; prefix: string; graceMs: number };

type RecordRow = {
  subject: Subject;
  json: string;
  hash: string | null;
  projected: number;
};

const SCHEMA = `
CREATE TABLE IF NOT EXISTS record (
  id INTEGER PRIMARY KEY CHECK (id = 1), subject TEXT NOT NULL, json TEXT NOT NULL, hash TEXT,
  projected INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS old_hashes (hash TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS policy (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deleted (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS grace (id INTEGER PRIMARY KEY CHECK (id = 1), hash TEXT NOT NULL, until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS alert_pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, draft TEXT NOT NULL);
`;
const PROJECT_RETRY_MS = 5_000;

/** What a key of a deleted team is answered (a key created or moved into the team while it was being deleted). */
const teamDeleted = (id: string): Refusal => ({
  ok: false, code: 403,
  message: `the key's team "${id}" was deleted: move the key to another team (PATCH team_id) or take it out of the team`,
});

const unavailable = (what: string): Refusal => ({ ok: false, code: 503, message: `governance storage unavailable (${what}); try again` });

declare module "../env" {
  interface Env {
    /** Per-key and per-team governance counters: one Governor per key and per team (src/lib/governors.ts). */
    GOVERNOR: DurableObjectNamespace<Governor>;
  }
}

export class Governor extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly ledger: Ledger;
  /** The stored record, parsed once per instance; null when there is none. */
  private cached: { subject: Subject; record: KeyRecord | TeamRecord } | null | undefined;
  /** Budget alerts wait in this object's storage, not yet in the D1 outbox (a write that failed). */
  private alertsLeft: boolean;
  /** Admin writes run one after another (each awaits KV and maybe D1, where other calls may interleave). */
  private writes: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
    this.ledger = new Ledger(this.sql);
    this.alertsLeft = this.sql.exec("SELECT 1 FROM alert_pending LIMIT 1").toArray().length > 0;
  }

  // ---- isolates

  /** Renews (or opens) an isolate's lease; see LeaseAsk and LeaseGrant. */
  lease(subject: Subject, id: string, ask: LeaseAsk): LeaseAnswer {
    try {
      // A deleted team grants nothing: its limits must not silently lift for a key still naming it.
      if (subject === "team" && this.isDeleted()) return teamDeleted(id);
      let cur = this.current();
      if (!cur && subject === "key" && ask.record) cur = this.adopt(ask.record);
      if (!cur && subject === "team") cur = this.adoptLegacyTeam(id);
      if (!cur && subject === "key") return { ok: false, code: 401, message: "API key not valid" };
      const record = cur?.record;
      const limits = limitsOf(record);
      const name = record?.name ?? id;
      // An unusable key is granted nothing (its report of what it used still counts).
      const usable = subject !== "key" || !keyUnusableReason(record as KeyRecord, clock.now());
      const g = this.ledger.grant(usable ? ask : { ...ask, need: { requests: 0, tokens: 0, usd: 0 } }, limits, `${subject} "${name}"`);
      return { ok: true, ...g, limits, name, ...(subject === "key" ? { record: record as KeyRecord } : {}) };
    } catch (e) {
      console.error(`governor ${subject} ${id}: lease failed`, String(e));
      return unavailable("lease");
    }
  }

  /**
   * Reserves `need` (tokens and dollars) under `holdId` until it is released or `ttlMs` passes, for work that
   * outlives any request (a batch job): what a long job may spend is held from the start, like a call's worst case.
   */
  hold(subject: Subject, id: string, holdId: string, need: Amounts, ttlMs: number): LeaseAnswer {
    try {
      const record = this.current()?.record;
      const limits = limitsOf(record);
      const ask: LeaseAsk = { lease: holdId, used: ZERO, uses: [], reserved: ZERO, need, typical: ZERO, rate: 0 };
      const g = this.ledger.grant(ask, limits, `${subject} "${record?.name ?? id}"`, { ttlMs });
      if (g.short) {
        this.ledger.release(holdId);
        return g.short;
      }
      return { ok: true, ...g, limits, name: record?.name ?? id };
    } catch (e) {
      console.error(`governor ${subject} ${id}: hold failed`, String(e));
      return unavailable("hold");
    }
  }

  /** The held work ended (its usage settled or about to be): the hold counts only what was settled under it. */
  release(holdId: string): { ok: true } | Refusal {
    try {
      this.ledger.release(holdId);
      return { ok: true };
    } catch (e) {
      console.error(`governor: release ${holdId} failed`, String(e));
      return unavailable("release");
    }
  }

  /** Finished calls' tokens and cost; a batch id already seen changes nothing. */
  settle(batchId: string, items: SettleItem[]): { ok: true; duplicate: boolean } | Refusal {
    try {
      const cur = this.current();
      const limits = limitsOf(cur?.record);
      // Budget alerts: this object is the one writer of the subject's spend, so it sees each crossing exactly once.
      const alerts = limits.budget && cur ? alertSettings(this.env) : null;
      const now = clock.now();
      const before = alerts ? this.ledger.spentInPeriod(limits.budget!.period, now) : 0;
      const settled = this.ledger.settle(batchId, items, limits);
      if (alerts && !settled.duplicate) {
        const subject = { kind: cur!.subject, id: cur!.record.id, name: cur!.record.name ?? cur!.record.id };
        const start = periodStart(limits.budget!.period, now);
        const after = this.ledger.spentInPeriod(limits.budget!.period, now);
        this.queueAlerts(budgetCrossings(subject, limits.budget!, start, before, after, alerts.thresholds, now));
      }
      if (alerts && this.alertsLeft) this.ctx.waitUntil(this.flushAlerts());
      return { ok: true, ...settled };
    } catch (e) {
      console.error(`governor: settle ${batchId} failed`, String(e));
      return unavailable("settle");
    }
  }

  /**
   * Keeps the events here (in this object's storage, with the settlement that raised them) until they are in the
   * D1 outbox; a write that fails is retried with the next settlement while alerts are on.
   */
  private queueAlerts(drafts: AlertDraft[]): void {
    if (!drafts.length) return;
    for (const d of drafts) this.sql.exec("INSERT INTO alert_pending (draft) VALUES (?)", JSON.stringify(d));
    this.alertsLeft = true;
  }

  private async flushAlerts(): Promise<void> {
    const rows = this.sql.exec<{ seq: number; draft: string }>("SELECT seq, draft FROM alert_pending ORDER BY seq").toArray();
    if (!rows.length) return;
    // `raise` writes to D1 (idempotent by id) before delivering; only rows written leave this object.
    await raise(this.env, rows.map((r) => JSON.parse(r.draft) as AlertDraft), () => {
      this.sql.exec("DELETE FROM alert_pending WHERE seq <= ?", rows[rows.length - 1]!.seq);
      this.alertsLeft = this.sql.exec("SELECT 1 FROM alert_pending LIMIT 1").toArray().length > 0;
    });
  }

  /** Counters for the admin API and tests. */
  snapshot(): Counters & { limits: Limits } {
    const limits = limitsOf(this.current()?.record);
    return { ...this.ledger.counters(limits), limits };
  }

  // ---- admin: keys

  readKey(): KeyRecord | null {
    const cur = this.current();
    return cur?.subject === "key" ? (cur.record as KeyRecord) : null;
  }

  /** A key from before this object kept records: its KV record, under the status this object last knew. */
  adoptKey(record: KeyRecord): void {
    if (!this.current()) this.adopt(record);
  }

  createKey(record: KeyRecord, hash: string): Promise<WriteResult<KeyRecord>> {
    return this.serial(async () => {
      if (this.current()) return { ok: false, code: 409, message: `key "${record.id}" already exists` };
      const next: KeyRecord = { ...record, revision: 1 };
      this.commit("key", next, hash);
      await this.project();
      return { ok: true, record: next };
    });
  }

  /**
   * Applies one change on top of the stored record (never on a caller's stale copy). `ifRevision` makes it
   * conditional: a write based on an older revision is refused with 409. A revoked key stays revoked. `inTeam`
   * confines the write to a key of that team (a team admin's): any other key is answered as one that does not exist,
   * decided here, on the stored record, so a key moved out of the team meanwhile is not written.
   */
  updateKey(change: KeyChange, ifRevision?: number, inTeam?: string): Promise<WriteResult<KeyRecord>> {
    return this.serial(async () => {
      const cur = this.readKey();
      const row = this.row();
      if (!cur || !row) return { ok: false, code: 404, message: "key not found" };
      if (inTeam !== undefined && cur.team_id !== inTeam) return { ok: false, code: 404, message: `key "${cur.id}" not found` };
      if (cur.revoked_at) {
        if (change.kind === "revoke") return { ok: true, record: cur, before: cur };
        return { ok: false, code: 409, message: `key "${cur.id}" is revoked: revocation is final; create a new key instead` };
      }
      const stale = stalenessOf(cur.revision, ifRevision);
      if (stale) return stale;
      const now = new Date().toISOString();
      const revision = (cur.revision ?? 1) + 1;
      if (change.kind === "revoke") {
        // A revocation ends the secret in its grace too (docs/admin-api.md, "Rotation with a grace period").
        this.endGrace();
        this.commit("key", { ...cur, active: false, revoked_at: now, updated_at: now, revision, grace: null }, row.hash);
      } else if (change.kind === "patch") {
        const next: KeyRecord = { ...cur, ...change.fields, id: cur.id, created_at: cur.created_at, updated_at: now, revision };
        const seeded = await this.seedBudget(cur, next, "key", () => {
          // Deactivating ends the grace of a rotated-away secret: re-activating does not bring it back.
          if (change.fields.active === false && this.endGrace()) next.grace = null;
          this.commit("key", next, row.hash);
        });
        if (seeded) return seeded;
      } else {
        // Only the secret just replaced may have a grace: one still in an earlier grace stops now.
        this.endGrace();
        const until = clock.now() + change.graceMs;
        const grace = change.graceMs > 0 && row.hash ? { prefix: cur.prefix, rotations: cur.rotations ?? 0, until: new Date(until).toISOString() } : null;
        const next: KeyRecord = { ...cur, prefix: change.prefix, rotations: (cur.rotations ?? 0) + 1, updated_at: now, revision, grace };
        // The new secret must resolve before anyone is given it: publish it first, and change nothing if that fails.
        try {
          await this.env.VIRTUAL_KEYS.put(`vk:${change.hash}`, JSON.stringify(next));
        } catch (e) {
          console.error(`governor key ${cur.id}: rotate could not publish the new secret`, String(e));
          return unavailable("KV") as WriteResult<KeyRecord>;
        }
        if (grace) {
          // The old secret keeps resolving (KV keeps its entry) until the alarm at `until` deletes it; the gate
          // admits it only while `grace.until` is ahead (src/governance/gate.ts).
          this.sql.exec("INSERT OR REPLACE INTO grace (id, hash, until) VALUES (1, ?, ?)", row.hash, until);
          await this.ctx.storage.setAlarm(until);
        } else if (row.hash) this.sql.exec("INSERT OR IGNORE INTO old_hashes (hash) VALUES (?)", row.hash);
        this.commit("key", next, change.hash);
      }
      await this.project();
      return { ok: true, record: this.readKey()!, before: cur };
    });
  }

  // ---- admin: teams

  readTeam(): TeamRecord | null {
    const cur = this.current();
    return cur?.subject === "team" ? (cur.record as TeamRecord) : null;
  }

  /** `live` (a record), `deleted` (for good: never adopted or created again), or `none` (a team only KV may know). */
  teamStatus(): "live" | "deleted" | "none" {
    return this.isDeleted() ? "deleted" : this.readTeam() ? "live" : "none";
  }

  createTeam(team: TeamRecord): Promise<WriteResult<TeamRecord>> {
    return this.serial(async () => {
      if (this.isDeleted()) return { ok: false, code: 409, message: `team "${team.id}" was deleted` };
      if (this.current()) return { ok: false, code: 409, message: `team "${team.id}" already exists` };
      const next: TeamRecord = { ...team, revision: 1 };
      this.commit("team", next, null);
      await this.project();
      return { ok: true, record: next };
    });
  }

  /** Applies `fields` on top of the stored team, one writer at a time; `ifRevision` makes it conditional. */
  updateTeam(fields: Partial<TeamRecord>, ifRevision?: number): Promise<WriteResult<TeamRecord>> {
    return this.serial(async () => {
      const cur = this.readTeam();
      if (!cur) return { ok: false, code: 404, message: "team not found" };
      const stale = stalenessOf(cur.revision, ifRevision);
      if (stale) return stale;
      const next: TeamRecord = {
        ...cur, ...fields, id: cur.id, created_at: cur.created_at, updated_at: new Date().toISOString(), revision: (cur.revision ?? 1) + 1,
      };
      const seeded = await this.seedBudget(cur, next, "team", () => this.commit("team", next, null));
      if (seeded) return seeded;
      await this.project();
      return { ok: true, record: next, before: cur };
    });
  }

  deleteTeam(): Promise<WriteResult<{ id: string }>> {
    return this.serial(async () => {
      const cur = this.readTeam();
      if (!cur) return { ok: false, code: 404, message: "team not found" };
      try {
        await this.env.VIRTUAL_KEYS.delete(`team:${cur.id}`);
      } catch (e) {
        console.error(`governor team ${cur.id}: delete from KV failed`, String(e));
        return unavailable("KV") as WriteResult<{ id: string }>;
      }
      this.sql.exec("DELETE FROM record");
      this.sql.exec("DELETE FROM policy");
      this.sql.exec("INSERT OR REPLACE INTO deleted (id, at) VALUES (1, ?)", new Date().toISOString());
      this.ledger.reset();
      this.cached = null;
      this.deletedFlag = true;
      return { ok: true, record: { id: cur.id } };
    });
  }

  /** Publishing to KV failed earlier: try again until it lands. A grace that ended: its secret's KV entry goes. */
  override async alarm(): Promise<void> {
    await this.serial(async () => {
      const g = this.graceRow();
      if (g && g.until <= clock.now()) this.endGrace();
      await this.project();
      const left = this.graceRow();
      if (left) await this.ctx.storage.setAlarm(Math.max(left.until, Date.now() + 1_000));
    });
  }

  // ---- internals

  private deletedFlag: boolean | undefined;

  private isDeleted(): boolean {
    this.deletedFlag ??= this.sql.exec("SELECT 1 FROM deleted WHERE id = 1").toArray().length > 0;
    return this.deletedFlag;
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.writes.then(f, f);
    this.writes = run.catch(() => {});
    return run.catch((e) => {
      console.error("governor: admin write failed", String(e));
      return unavailable("write") as T;
    });
  }

  private graceRow(): { hash: string; until: number } | undefined {
    return this.sql.exec<{ hash: string; until: number }>("SELECT hash, until FROM grace WHERE id = 1").toArray()[0];
  }

  /** The secret in its grace (if any) stops resolving: its KV entry is deleted with the next publish. */
  private endGrace(): boolean {
    const g = this.graceRow();
    if (!g) return false;
    this.sql.exec("INSERT OR IGNORE INTO old_hashes (hash) VALUES (?)", g.hash);
    this.sql.exec("DELETE FROM grace WHERE id = 1");
    return true;
  }

  private row(): RecordRow | undefined {
    return this.sql.exec<RecordRow>("SELECT subject, json, hash, projected FROM record WHERE id = 1").toArray()[0];
  }

  private current(): { subject: Subject; record: KeyRecord | TeamRecord } | null {
    if (this.cached === undefined) {
      const row = this.row();
      this.cached = row ? { subject: row.subject, record: JSON.parse(row.json) } : null;
    }
    return this.cached;
  }

  private commit(subject: Subject, record: KeyRecord | TeamRecord, hash: string | null): void {
    this.sql.exec(
      `INSERT INTO record (id, subject, json, hash) VALUES (1, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET subject = excluded.subject, json = excluded.json, hash = excluded.hash`,
      subject, JSON.stringify(record), hash,
    );
    this.cached = { subject, record };
    if (!record.rate_limit?.tpm) this.ledger.forgetTokens();
  }

  /** KV mirrors the record (and only the current secret resolves); a failure is retried from the alarm. */
  private async project(): Promise<void> {
    const row = this.row();
    const cur = this.current();
    if (!row || !cur) return;
    const revision = cur.record.revision ?? 0;
    try {
      if (cur.subject === "key") {
        if (row.hash) await new KeyStore(this.env.VIRTUAL_KEYS).put(row.hash, cur.record as KeyRecord);
        const old = this.sql.exec<{ hash: string }>("SELECT hash FROM old_hashes").toArray();
        for (const o of old) {
          await this.env.VIRTUAL_KEYS.delete(`vk:${o.hash}`);
          this.sql.exec("DELETE FROM old_hashes WHERE hash = ?", o.hash);
        }
      } else {
        await new TeamStore(this.env.VIRTUAL_KEYS).put(cur.record as TeamRecord);
      }
      this.sql.exec("UPDATE record SET projected = ? WHERE id = 1", revision);
    } catch (e) {
      console.error(`governor ${cur.subject} ${cur.record.id}: publishing to KV failed; retrying`, String(e));
      await this.ctx.storage.setAlarm(Date.now() + PROJECT_RETRY_MS);
    }
  }

  /**
   * Commits `next`; a budget set where there was none first starts from what the subject already spent, each row
   * counted exactly once: the rows in D1, except those the usage buffer's shards still hold, plus those the shards
   * hold that will not settle here (they carry no settle ref for this subject). A row that will settle here counts
   * when it settles (src/governance/ledger.ts `settle`: under a budget, every settled dollar counts). No settlement
   * lands here between the reads and the commit (blockConcurrencyWhile), so none falls between the two. D1 or a
   * shard may be unreachable: then the write is refused with 503 and nothing changes.
   */
  private async seedBudget(cur: KeyRecord | TeamRecord | null, next: KeyRecord | TeamRecord, subject: Subject, commit: () => void) {
    if (!next.budget || cur?.budget) {
      commit();
      return undefined;
    }
    return this.ctx.blockConcurrencyWhile(async () => {
      try {
        const foldFrom = Ledger.foldFrom(clock.now());
        const held = await usageLog.heldRows(this.env, subject, next.id);
        const buckets = new Map<number, number>();
        for (const b of await usageLog.spendByHour(this.env.DB, subject, next.id, foldFrom, [...held.keys()])) buckets.set(b.hour, b.usd);
        for (const r of held.values()) {
          if (r.settles || !(r.usd > 0)) continue;
          const hour = r.ts < foldFrom ? 0 : hourOf(r.ts);
          buckets.set(hour, (buckets.get(hour) ?? 0) + r.usd);
        }
        this.ledger.seed([...buckets].map(([hour, usd]) => ({ hour, usd })));
        commit();
        return undefined;
      } catch (e) {
        console.error(`governor ${next.id}: usage log unreadable while starting a budget`, String(e));
        return {
          ok: false as const, code: 503 as const,
          message: "could not read the usage log to start the budget from what was already spent; nothing was changed, try again",
        };
      }
    });
  }

  /** A key from before this object kept records: take the isolate's copy, under the status this object last knew. */
  private adopt(record: KeyRecord) {
    const legacy = this.legacyPolicy();
    const merged: KeyRecord = legacy
      ? { ...record, active: legacy.active ?? record.active, revoked_at: legacy.revoked_at ?? record.revoked_at, rotations: legacy.rotations ?? record.rotations }
      : record;
    this.commit("key", { ...merged, revision: merged.revision ?? 1 }, null);
    return this.current();
  }

  private adoptLegacyTeam(id: string) {
    const p = this.legacyPolicy();
    if (!p) return null;
    const now = new Date().toISOString();
    this.commit("team", { id, name: p.name ?? id, rate_limit: p.rate_limit, budget: p.budget, created_at: now, updated_at: now, revision: 1 }, null);
    return this.current();
  }

  private legacyPolicy(): (Partial<KeyRecord> & { name?: string }) | undefined {
    const row = this.sql.exec<{ json: string }>("SELECT json FROM policy WHERE id = 1").toArray()[0];
    return row ? JSON.parse(row.json) : undefined;
  }
}

/** 409 when a conditional write names a revision other than the stored one. */
function stalenessOf(current: number | undefined, expected: number | undefined) {
  if (expected === undefined || expected === (current ?? 1)) return undefined;
  return {
    ok: false as const, code: 409 as const,
    message: `stale write: the record is at revision ${current ?? 1}, not ${expected}; read it again and reapply the change`,
  };
}
