/**
 * Ephemeral tokens for the Live API, in the shape `ai.authTokens.create` sends and reads: a token is bound to the key
 * that issued it (sessions count against that key, its team and its limits), may open `uses` sessions (0: any
 * number) until `newSessionExpireTime`, ends every session at `expireTime`, and may fix the session's setup
 * (`bidiGenerateContentSetup`, with `fieldMask` naming the fixed fields). Only its SHA-256 is stored.
 */
import * as z from "zod/mini";
import { isTargetAllowed } from "../auth/authenticate";
import { randomBase62, sha256Hex } from "../auth/crypto";
import type { KeyRecord } from "../keys/key-record";
import { KeyStore } from "../keys/key-store";
import type { Config } from "../config";
import type { Env } from "../env";
import { badRequest, GatewayError } from "../gemini/errors";
import { describeIssues } from "../gemini/schema";
import { targetString } from "../lib/target";
import { normalizeSetup, parseFieldMask, setupModel, type SetupLock } from "./setup";
import { newSessionRefusal, tokenObject, type Redeemed, type TokenRecord } from "./token-store";

export const TOKEN_PREFIX = "auth_tokens/";
const TOKEN_RE = /^auth_tokens\/[A-Za-z0-9]{40}$/;

const MINUTE = 60_000;
/** Google's defaults and ceiling: sessions end 30 minutes on, new ones are refused after a minute, at most 20 hours. */
const DEFAULT_EXPIRE_MS = 30 * MINUTE;
const DEFAULT_NEW_SESSION_MS = MINUTE;
const MAX_LIFE_MS = 20 * 60 * MINUTE;
/** The largest create body: a token's setup is stored whole (a long system instruction fits). */
export const MAX_TOKEN_BODY_BYTES = 96 * 1024;

const Time = z.iso.datetime({ offset: true });
export const AuthTokenBody = z.object({
  uses: z.optional(z.int().check(z.gte(0), z.lte(1_000_000))),
  expireTime: z.optional(Time),
  newSessionExpireTime: z.optional(Time),
  bidiGenerateContentSetup: z.optional(z.record(z.string(), z.unknown())),
  fieldMask: z.optional(z.union([z.string().check(z.maxLength(4000)), z.array(z.string()).check(z.maxLength(100))])),
});

/** What `ai.authTokens.create` reads back (the AuthToken resource). */
export interface AuthToken {
  name: string;
  expireTime: string;
  newSessionExpireTime: string;
  uses: number;
}

export async function issueToken(env: Env, config: Config, key: KeyRecord, json: unknown, now: number): Promise<AuthToken> {
  const parsed = AuthTokenBody.safeParse(json);
  if (!parsed.success) throw badRequest(`invalid auth_tokens request: ${describeIssues(parsed.error.issues)}`);
  const b = parsed.data;
  const expireAt = b.expireTime ? Date.parse(b.expireTime) : now + DEFAULT_EXPIRE_MS;
  let newSessionAt = b.newSessionExpireTime ? Date.parse(b.newSessionExpireTime) : now + DEFAULT_NEW_SESSION_MS;
  for (const [name, t] of [["expireTime", expireAt], ["newSessionExpireTime", newSessionAt]] as const) {
    if (t <= now) throw badRequest(`${name} must be in the future`);
    if (t > now + MAX_LIFE_MS) throw badRequest(`${name} must be less than 20 hours in the future`);
  }
  // No session can be opened after every session must have ended.
  newSessionAt = Math.min(newSessionAt, expireAt);

  const lock: SetupLock = {};
  if (b.bidiGenerateContentSetup) {
    const setup = normalizeSetup(b.bidiGenerateContentSetup);
    if (setup.model !== undefined) {
      const target = setupModel(setup);
      if (!config.providers.get(target.provider)?.live) throw badRequest(liveRefusal(targetString(target)));
      if (!isTargetAllowed(key, target)) throw new GatewayError(403, `model "${targetString(target)}" is not allowed for key "${key.name}"`);
      setup.model = targetString(target);
    }
    lock.setup = setup;
  }
  if (b.fieldMask !== undefined) lock.fieldMask = parseFieldMask(b.fieldMask);

  const record: TokenRecord = {
    key_id: key.id, rotations: key.rotations ?? 0, issued_at: now,
    uses: b.uses ?? 1, used: 0, expire_at: expireAt, new_session_expire_at: newSessionAt,
    resumable: false,
    ...(lock.setup || lock.fieldMask ? { lock } : {}),
  };
  for (;;) {
    const name = `${TOKEN_PREFIX}${randomBase62(40)}`;
    if (await tokenObject(env, await sha256Hex(name)).issue(record)) {
      return { name, expireTime: new Date(expireAt).toISOString(), newSessionExpireTime: new Date(newSessionAt).toISOString(), uses: record.uses };
    }
  }
}

/** A token presented to open a session. */
export interface PresentedToken {
  hash: string;
  record: TokenRecord;
  /** The issuing key's record, as of the token's issue (so a later rotation refuses it). */
  key: KeyRecord;
}

/**
 * The token a connect presents, before the upgrade: a 401 when it is malformed, unknown, expired, or can open no
 * session (used up, or past newSessionExpireTime, and nothing of it to resume). Its use is taken at setup.
 */
export async function presentToken(env: Env, secret: string, now: number): Promise<PresentedToken> {
  if (!TOKEN_RE.test(secret)) throw new GatewayError(401, "ephemeral token not valid");
  const hash = await sha256Hex(secret);
  const r = (await tokenObject(env, hash).read(now)) as Redeemed;
  if (!r.ok) throw new GatewayError(401, r.message);
  const why = newSessionRefusal(r.record, now);
  if (why && !r.record.resumable) throw new GatewayError(401, why);
  const stored = await new KeyStore(env.VIRTUAL_KEYS).byId(r.record.key_id);
  if (!stored) throw new GatewayError(401, "ephemeral token not valid: its key no longer exists");
  return { hash, record: r.record, key: { ...stored.record, rotations: r.record.rotations } };
}

/**
 * At setup, before any upstream socket: session `id` takes the token's use (a new session) and one of its live
 * slots (new or resumed), or is refused: 401 when the token opens no session, 409 when its slots are all held.
 */
export async function holdToken(env: Env, token: PresentedToken, id: string, resumed: boolean, now: number): Promise<void> {
  const r = (await tokenObject(env, token.hash).open(now, id, resumed)) as Redeemed;
  if (!r.ok) throw new GatewayError(r.code ?? 401, r.message);
}

export const liveRefusal = (model: string) =>
  `model "${model}": the Live API is served by Gemini only (e.g. models/gemini-live-2.5-flash-preview)`;
