/** Teams in KV: `team:<id>` → the record. Read by the admin API only (admission asks the team's Durable Object). */
import { isRecordId } from "../keys/key-store";
import type { TeamRecord } from "./team-record";

const CACHE_TTL_MS = 5_000;
const cache = new Map<string, { team: TeamRecord | null; until: number }>();

/** Drops this isolate's copy of a team, so a write made here (a cache policy, a cache generation) applies at once. */
export const forgetTeam = (id: string) => void cache.delete(id);

/**
 * This isolate's fresh copy of a team, if it holds one (undefined: not held or stale), without a read: lets a hook
 * see at once that a team sets nothing it acts on.
 */
export function heldTeam(id: string, now = Date.now()): TeamRecord | null | undefined {
  const hit = cache.get(id);
  return hit && hit.until > now ? hit.team : undefined;
}

export class TeamStore {
  constructor(private readonly kv: KVNamespace) {}

  /** A read through a short per-isolate cache, for the inference path (whether a team sets limits). */
  async cachedGet(id: string, now = Date.now()): Promise<TeamRecord | null> {
    const hit = cache.get(id);
    if (hit && hit.until > now) return hit.team;
    const team = await this.get(id);
    if (cache.size > 10_000) cache.clear();
    cache.set(id, { team, until: now + CACHE_TTL_MS });
    return team;
  }

  async get(id: string): Promise<TeamRecord | null> {
    if (!isRecordId(id)) return null;
    return this.kv.get<TeamRecord>(`team:${id}`, "json");
  }

  async put(t: TeamRecord): Promise<void> {
    await this.kv.put(`team:${t.id}`, JSON.stringify(t));
    cache.delete(t.id);
  }

  async delete(id: string): Promise<void> {
    await this.kv.delete(`team:${id}`);
    cache.delete(id);
  }

  async list(limit: number, cursor?: string): Promise<{ records: TeamRecord[]; cursor?: string }> {
    const page = await this.kv.list({ prefix: "team:", limit, cursor });
    const records = await Promise.all(page.keys.map((k) => this.kv.get<TeamRecord>(k.name, "json")));
    return {
      records: records.filter((t): t is TeamRecord => !!t),
      cursor: page.list_complete ? undefined : page.cursor,
    };
  }
}
