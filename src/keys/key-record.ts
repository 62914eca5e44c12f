/** A virtual key's record: the admin API's input schema and what KV stores. Types via z.infer. */
import * as z from "zod/mini";
import { isProviderName, MAX_TARGETS, parseModelGlob, parseTarget } from "../lib/target";

export const RateLimit = z.object({
  rpm: z.optional(z.nullable(z.int().check(z.positive()))),
  tpm: z.optional(z.nullable(z.int().check(z.positive()))),
});
const BUDGET_PERIODS = ["1h", "1d", "1w", "1mo"] as const;
export const Budget = z.object({
  max_usd: z.number().check(z.gte(0)),
  period: z.optional(z.nullable(z.enum(BUDGET_PERIODS))),
});
/** The longest a response cache entry may live: 30 days. */
export const MAX_CACHE_TTL_SECONDS = 2_592_000;
/**
 * The response cache policy of a key or team (src/cache): `ttl` seconds (0: off), `scope` who shares entries (the
 * key alone, or its team's keys). A key's own policy wins over its team's.
 */
export const CachePolicy = z.object({
  ttl: z.int().check(z.gte(0), z.lte(MAX_CACHE_TTL_SECONDS)),
  scope: z.optional(z.enum(["key", "team"])),
});
export type CachePolicy = z.infer<typeof CachePolicy>;
export type RateLimit = z.infer<typeof RateLimit>;
export type Budget = z.infer<typeof Budget>;
/** A string the given parser of request input accepts; its own message otherwise (admin input parses like requests). */
const parsedBy = (parse: (s: string) => unknown) =>
  z.string().check(
    z.superRefine((v, ctx) => {
      try {
        parse(v);
      } catch (e) {
        ctx.issues.push({ code: "custom", input: v, message: (e as Error).message });
      }
    }),
  );
const TargetString = parsedBy((s) => {
  if (!s.includes("/")) throw new Error(`"${s.slice(0, 100)}": expected provider/model`);
  parseTarget(s);
});

/** What an admin may set on a key. */
export const KeyFields = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  team_id: z.optional(z.nullable(z.string().check(z.minLength(1)))),
  models: z.optional(z.array(parsedBy(parseModelGlob)).check(z.maxLength(1000))),
  providers: z.optional(z.array(z.string().check(z.refine(isProviderName, "expected a provider name (lower case)"))).check(z.maxLength(100))),
  rate_limit: z.optional(z.nullable(RateLimit)),
  budget: z.optional(z.nullable(Budget)),
  expires_at: z.optional(z.nullable(z.iso.datetime({ offset: true }))),
  active: z.optional(z.boolean()),
  // The same bound a request's own `fallbacks` has (src/plan/chain.ts).
  fallbacks: z.optional(z.array(TargetString).check(z.maxLength(MAX_TARGETS - 1, `at most ${MAX_TARGETS - 1} fallbacks`))),
  metadata: z.optional(z.record(z.string(), z.string())),
  /** Who sees the files, caches, batches and operations this key creates: the key alone, or its team too. */
  resource_scope: z.optional(z.enum(["key", "team"])),
  cache: z.optional(z.nullable(CachePolicy)),
  /** Guardrail policies (names in `GUARDRAILS`) for this key's calls, besides its team's. */
  guardrails: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(64))).check(z.maxLength(50))),
  /** Store each call's request and answer, redacted, in LOG_BUCKET (docs/observability.md, "Bodies"); or its team's. */
  log_bodies: z.optional(z.nullable(z.boolean())),
});
export const KeyPatch = z.partial(KeyFields);
export type KeyFields = z.infer<typeof KeyFields>;
export type KeyPatch = z.infer<typeof KeyPatch>;

export interface KeyRecord extends KeyFields {
  id: string;
  active: boolean;
  /** First characters of the secret, so people can tell keys apart; never enough to use it. */
  prefix: string;
  created_at: string;
  updated_at: string;
  revoked_at?: string | null;
  /** How many times the secret was rotated; a record read under an older secret carries a lower number. */
  rotations?: number;
  /** Bumped by every admin write (the key's Governor is the one writer); `If-Match` on PATCH names it. */
  revision?: number;
  /**
   * The secret the last rotation replaced, while it keeps working: its prefix, its rotation number (the `rotations`
   * a record read under it carries) and until when. Null once a revocation, `active: false` or a rotation without
   * grace ended it; a past `until` means it has ended.
   */
  grace?: KeyGrace | null;
  /** Changed by `DELETE /admin/cache?key_id=`: part of every cache entry's key, so older entries are never found. */
  cache_generation?: number;
}

export interface KeyGrace {
  prefix: string;
  rotations: number;
  until: string;
}

/** The longest grace a rotation may give the secret it replaces: 7 days. */
export const MAX_GRACE_SECONDS = 604_800;

/** Whether a secret read as rotation `presented` is the one still in its grace under the key's current record. */
export function inGrace(current: Pick<KeyRecord, "grace">, presented: number, now: number): boolean {
  const g = current.grace;
  return !!g && g.rotations === presented && Date.parse(g.until) > now;
}

/** Why a key may not be used right now, or undefined when it may. */
export function keyUnusableReason(k: Pick<KeyRecord, "revoked_at" | "active" | "expires_at">, now = Date.now()): string | undefined {
  if (k.revoked_at) return "API key has been revoked";
  if (!k.active) return "API key is inactive";
  if (k.expires_at && Date.parse(k.expires_at) <= now) return "API key has expired";
  return undefined;
}
