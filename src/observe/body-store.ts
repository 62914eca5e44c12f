/**
 * Stored call bodies in the LOG_BUCKET R2 bucket (docs/observability.md, "Bodies"): one JSON object per call, under
 * `bodies/<UTC day of the call>/<request id>`, so that the cron deletes whole past days in bounded chunks and a
 * read finds a call by trying the days of the retention window at once.
 */
import type { Env } from "../env";
import { describeError } from "../lib/describe-error";
import type { StoredBody } from "./stored-body";

export type { StoredBody };

/** The most of a request's or an answer's JSON text stored per call (each): past it, its first bytes, marked truncated. */
export const MAX_BODY_BYTES = 256 * 1024;
/** Bodies are kept this many days unless LOG_BODIES_RETENTION_DAYS says otherwise (1 to 365). */
export const DEFAULT_RETENTION_DAYS = 7;
const MAX_RETENTION_DAYS = 365;
const PREFIX = "bodies/";
const DAY_MS = 86_400_000;

export function retentionDays(env: Env): number {
  const n = Number(env.LOG_BODIES_RETENTION_DAYS);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, MAX_RETENTION_DAYS) : DEFAULT_RETENTION_DAYS;
}

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const objectKey = (requestId: string, at: number) => `${PREFIX}${day(at)}/${requestId}`;

/** Writes one call's body; `team_id` and `key_id` go in its metadata too, so a read can be refused before the body is. */
export async function putBody(bucket: R2Bucket, body: StoredBody, text: string): Promise<void> {
  await bucket.put(objectKey(body.request_id, Date.parse(body.at)), text, {
    httpMetadata: { contentType: "application/json; charset=utf-8" },
    customMetadata: { key_id: body.key_id, team_id: body.team_id ?? "" },
  });
}

/** Request ids are UUIDs: anything else is never looked up (it could not have been stored). */
const REQUEST_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A call's stored body, from the days of the retention window (one head per day, all at once: Class B operations),
 * or null. `teamId`: a team admin's team; a body of another team's call is reported as absent.
 */
export async function readBody(env: Env, bucket: R2Bucket, requestId: string, teamId: string | undefined, now = Date.now()): Promise<string | null> {
  if (!REQUEST_ID.test(requestId)) return null;
  const days = retentionDays(env);
  // One day more than the window: a call that began just before midnight is filed under the day it began.
  const keys = Array.from({ length: days + 1 }, (_, i) => objectKey(requestId, now - i * DAY_MS));
  const heads = await Promise.all(keys.map((k) => bucket.head(k)));
  const found = heads.find((h): h is R2Object => !!h);
  if (!found) return null;
  // A team admin's team is never empty; a call without a team is no team admin's.
  if (teamId !== undefined && (!teamId || found.customMetadata?.team_id !== teamId)) return null;
  const obj = await bucket.get(found.key);
  return obj ? obj.text() : null;
}

/** At most this many list-and-delete rounds (of up to 1,000 bodies each) per cron run. */
const MAX_ROUNDS = 10;

/**
 * Deletes the bodies of days before the retention window, oldest first, in rounds of up to 1,000 objects and at
 * most MAX_ROUNDS per run (10,000 bodies); a backlog larger than that is finished by the next runs.
 * Returns how many were deleted and whether anything old is left.
 */
export async function pruneBodies(env: Env, now = Date.now()): Promise<{ deleted: number; done: boolean }> {
  const bucket = env.LOG_BUCKET;
  if (!bucket) return { deleted: 0, done: true };
  const cutoff = day(now - retentionDays(env) * DAY_MS);
  let deleted = 0;
  try {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      // Days sort as text; the first listed day is the oldest.
      const days = await bucket.list({ prefix: PREFIX, delimiter: "/" });
      const oldest = days.delimitedPrefixes[0];
      if (!oldest || oldest.slice(PREFIX.length, -1) >= cutoff) return { deleted, done: true };
      const page = await bucket.list({ prefix: oldest, limit: 1000 });
      if (!page.objects.length) return { deleted, done: true };
      await bucket.delete(page.objects.map((o) => o.key));
      deleted += page.objects.length;
    }
    return { deleted, done: false };
  } catch (e) {
    console.error(`log bodies: pruning failed: ${describeError(e)}`);
    return { deleted, done: false };
  }
}
