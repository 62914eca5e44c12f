/**
 * Ephemeral tokens (`auth_tokens/...`): one Durable Object per token, named by the token's SHA-256, so the token is
 * stored only hashed and its uses are counted in one place: two sessions racing for a token's last use cannot both
 * have it. The same object holds the token's live sessions, new and resumed alike, so a token never has more open at
 * once than its `uses` (docs/live.md). The object deletes itself a day after the token expires.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { SetupLock } from "./setup";

export interface TokenRecord {
  key_id: string;
  /** The key's rotation count when the token was issued: a later rotation ends the token with the old secret. */
  rotations: number;
  issued_at: number;
  /** Sessions the token may open, and may have live at once; 0 means no limit. Resuming a session is not a use. */
  uses: number;
  used: number;
  /** Sessions end here, and the token stops resolving. */
  expire_at: number;
  /** New sessions are refused from here (resuming one stays possible until `expire_at`). */
  new_session_expire_at: number;
  lock?: SetupLock;
  /** A session opened with the token was given a resumption handle: it may be resumed after the token's last use. */
  resumable: boolean;
}

/** `code`: the HTTP status of the refusal (401 unless said). */
export type Redeemed = { ok: true; record: TokenRecord } | { ok: false; message: string; code?: number };

const KEY = "token";
/** The token's live sessions: request id → when its hold lapses unless renewed. */
const LIVE_KEY = "live";
type LiveSessions = Record<string, number>;
/**
 * How long a session's hold on its token lasts unless renewed (an open session renews it every third of this): a
 * session whose isolate died without letting go blocks its token's resumption no longer than this.
 */
export const TOKEN_HOLD_MS = 60_000;
/** An expired token is kept a day (so it is refused as expired, not unknown), then deleted. */
const KEEP_EXPIRED_MS = 24 * 3_600_000;

export function tokenObject(env: Pick<Env, "EPHEMERAL_TOKENS">, hash: string): DurableObjectStub<EphemeralToken> {
  return env.EPHEMERAL_TOKENS.get(env.EPHEMERAL_TOKENS.idFromName(hash));
}

declare module "../env" {
  interface Env {
    /** Live API ephemeral tokens, one object per token. */
    EPHEMERAL_TOKENS: DurableObjectNamespace<EphemeralToken>;
  }
}

export class EphemeralToken extends DurableObject<Env> {
  /** Stores a new token; false when this name is taken (a collision of random names: the caller makes another). */
  async issue(record: TokenRecord): Promise<boolean> {
    if (await this.ctx.storage.get(KEY)) return false;
    await this.ctx.storage.put(KEY, record);
    await this.ctx.storage.setAlarm(record.expire_at + KEEP_EXPIRED_MS);
    return true;
  }

  /** The token as of `now` (the caller's clock), or why it cannot be used at all. */
  async read(now: number): Promise<Redeemed> {
    const record = await this.ctx.storage.get<TokenRecord>(KEY);
    if (!record) return { ok: false, message: "ephemeral token not valid" };
    if (now >= record.expire_at) return { ok: false, message: "ephemeral token has expired" };
    return { ok: true, record };
  }

  /**
   * Admits session `id`: a new one takes a use; new or resumed, it takes one of the token's `uses` live slots, held
   * until `release` (or until its hold lapses unrenewed). Or says why not: the one place this is judged, so sessions
   * racing for a token's last use or slot cannot both have it.
   */
  open(now: number, id: string, resumed: boolean): Promise<Redeemed> {
    return this.alone(() => this.admit(now, id, resumed));
  }

  private async admit(now: number, id: string, resumed: boolean): Promise<Redeemed> {
    const r = await this.read(now);
    if (!r.ok) return r;
    if (!resumed) {
      const why = newSessionRefusal(r.record, now);
      if (why) return { ok: false, message: why };
    }
    const live = await this.live(now);
    const open = Object.keys(live).length;
    if (r.record.uses > 0 && open >= r.record.uses) {
      const message = `ephemeral token already has ${open} live session${open === 1 ? "" : "s"}, its most (uses: ${r.record.uses}); `
        + "resume once one has closed";
      return { ok: false, code: 409, message };
    }
    if (!resumed) r.record.used++;
    live[id] = now + TOKEN_HOLD_MS;
    await this.ctx.storage.put({ [KEY]: r.record, [LIVE_KEY]: live });
    return r;
  }

  /** Extends session `id`'s hold; false when it has none any more (it lapsed, and its slot may be another's). */
  renew(now: number, id: string): Promise<boolean> {
    return this.alone(async () => {
      const live = await this.live(now);
      if (!(id in live)) return false;
      live[id] = now + TOKEN_HOLD_MS;
      await this.ctx.storage.put(LIVE_KEY, live);
      return true;
    });
  }

  /** Session `id` has ended: its slot is free. */
  release(id: string): Promise<void> {
    return this.alone(async () => {
      const live = (await this.ctx.storage.get<LiveSessions>(LIVE_KEY)) ?? {};
      if (!(id in live)) return;
      delete live[id];
      await this.ctx.storage.put(LIVE_KEY, live);
    });
  }

  /**
   * Runs a read-modify-write with no other call of this object in between: a use, a slot or the resumable flag
   * written from a stale read would undo another session's (input gates alone did not keep two `open`s apart).
   */
  private alone<T>(fn: () => Promise<T>): Promise<T> {
    return this.ctx.blockConcurrencyWhile(fn);
  }

  /** The sessions holding the token at `now`: lapsed holds are dropped. */
  private async live(now: number): Promise<LiveSessions> {
    const live = (await this.ctx.storage.get<LiveSessions>(LIVE_KEY)) ?? {};
    for (const [id, until] of Object.entries(live)) if (until <= now) delete live[id];
    return live;
  }

  markResumable(): Promise<void> {
    return this.alone(async () => {
      const record = await this.ctx.storage.get<TokenRecord>(KEY);
      if (!record || record.resumable) return;
      record.resumable = true;
      await this.ctx.storage.put(KEY, record);
    });
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

/** Why the token may not open a new session at `now`, if it may not. */
export function newSessionRefusal(t: TokenRecord, now: number): string | undefined {
  if (now >= t.new_session_expire_at) return "ephemeral token no longer opens new sessions (its newSessionExpireTime has passed)";
  if (t.uses > 0 && t.used >= t.uses) return `ephemeral token has been used up (uses: ${t.uses})`;
  return undefined;
}
