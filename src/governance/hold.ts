/**
 * Holds: reservations for work that outlives the request that started it (a batch job, a long-running operation).
 * The key's and the team's Governors each hold the work's worst case from its creation until its usage is settled
 * under the hold and the hold is released; a hold that is never released lapses after its time to live.
 */
import type { KeyRecord } from "../keys/key-record";
import type { Env } from "../env";
import { GatewayError } from "../gemini/errors";
import type { SettleRefs } from "../usage/row";
import { governor } from "../lib/governors";
import { refusalError } from "./gate";
import type { Subject } from "./governor";
import type { LeaseAnswer, Refusal } from "./protocol";

export interface Held {
  /** What the work's usage row carries, so its settlement counts under the hold. */
  refs: SettleRefs;
}

/**
 * Holds `need` for the key and its team (those that meter tokens or dollars), or throws the refusal (402/429), or
 * 503 when a Governor cannot be reached; a refusal by one releases what the other held.
 */
export async function hold(env: Env, key: KeyRecord, holdId: string, need: { tokens: number; usd: number }, ttlMs: number): Promise<Held> {
  const subjects: [Subject, string][] = [["key", key.id]];
  if (key.team_id) subjects.push(["team", key.team_id]);
  const amounts = { requests: 0, tokens: need.tokens, usd: need.usd };
  const answers: (LeaseAnswer | undefined)[] = await Promise.all(
    subjects.map(async ([s, id]) => (await governor(env, s, id).hold(s, id, holdId, amounts, ttlMs)) as LeaseAnswer).map((p) => p.catch(() => undefined)),
  );
  if (answers.some((a) => !a || !a.ok)) {
    await release(env, key, holdId).catch(() => {});
    const refused = answers.find((a): a is Refusal => !!a && !a.ok);
    if (!refused) throw new GatewayError(503, "governance unavailable, try again");
    throw refusalError(refused, amounts);
  }
  const refs: SettleRefs = {};
  answers.forEach((a, i) => {
    if (a && a.ok && (a.limits.tpm !== null || a.limits.budget !== null)) refs[subjects[i]![0]] = holdId;
  });
  return { refs };
}

/** The held work ended: each Governor keeps counting only what was settled under the hold. */
export async function release(env: Env, key: Pick<KeyRecord, "id" | "team_id">, holdId: string): Promise<void> {
  const subjects: [Subject, string][] = [["key", key.id]];
  if (key.team_id) subjects.push(["team", key.team_id]);
  await Promise.all(subjects.map(([s, id]) => governor(env, s, id).release(holdId)));
}
