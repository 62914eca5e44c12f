/**
 * Ephemeral tokens (`auth_tokens/...`): one Durable Object per token, named by the token's SHA-256, so the token is
 * stored only hashed and its uses are counted in one place: two sessions racing for a token's last use cannot both
 * have it. The object deletes itself a day after the token expires.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { SetupLock } from "./setup";

export interface TokenRecord {
  key_id: string;
  /** The key's rotation count when the token was issued: a later rotation ends the token with the old secret. */
  rotations: number;
  issued_at: number;
  /** Sessions the token may open; 0 means no limit. Resuming a session is not a use. */
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

export type Redeemed = { ok: true; record: TokenRecord } | { ok: false; message: string };

const KEY = "token";
/** An expired token is kept a day (so it is refused as expired, not unknown), then deleted. */
const KEEP_EXPIRED_MS = 24 * 3_600_000;

export function tokenObject(env: Pick<Env, "EPHEMERAL_TOKENS">, hash: string): DurableObjectStub<EphemeralToken> {
  return env.EPHEMERAL_TOKENS.get(env.EPHEMERAL_TOKENS.idFromName(hash));
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

  /** Takes one use for a new session, or says why there is none. */
  async consume(now: number): Promise<Redeemed> {
    const r = await this.read(now);
    if (!r.ok) return r;
    const why = newSessionRefusal(r.record, now);
    if (why) return { ok: false, message: why };
    r.record.used++;
    await this.ctx.storage.put(KEY, r.record);
    return r;
  }

  async markResumable(): Promise<void> {
    const record = await this.ctx.storage.get<TokenRecord>(KEY);
    if (!record || record.resumable) return;
    record.resumable = true;
    await this.ctx.storage.put(KEY, record);
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
