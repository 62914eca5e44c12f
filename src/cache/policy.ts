/**
 * Which cache policy a call runs under: the key's own `cache` (a `ttl` of 0 there turns it off for the key), else
 * its team's; off (undefined) when neither sets a ttl. The scope names who shares entries and carries that scope's
 * generation, which `DELETE /admin/cache` changes.
 */
import type { KeyRecord } from "../keys/key-record";
import type { TeamRecord } from "../governance/team-record";
import { TeamStore } from "../governance/team-store";
import type { Env } from "../env";

export interface ActivePolicy {
  ttl: number;
  /** `key:<id>:<generation>` or `team:<id>:<generation>`: the first part of every entry key. */
  scope: string;
}

/**
 * The key's record is the Governor's (what admission read); the team's is the isolate's short-lived copy of KV
 * (src/governance/team-store.ts), the same read admission makes for a team without limits.
 * `narrow`: the call uses a file or cache made through the gateway: its entries stay with the key.
 */
export async function activePolicy(env: Env, key: KeyRecord, narrow: boolean): Promise<ActivePolicy | undefined> {
  let team: TeamRecord | null | undefined;
  const teamRecord = async () => (team ??= key.team_id ? await new TeamStore(env.VIRTUAL_KEYS).cachedGet(key.team_id) : null);
  let policy = key.cache;
  if (!policy) {
    if (!key.team_id) return undefined;
    policy = (await teamRecord())?.cache;
  }
  if (!policy?.ttl) return undefined;
  if (policy.scope === "team" && key.team_id && !narrow) {
    return { ttl: policy.ttl, scope: `team:${key.team_id}:${(await teamRecord())?.cache_generation ?? 0}` };
  }
  return { ttl: policy.ttl, scope: `key:${key.id}:${key.cache_generation ?? 0}` };
}
