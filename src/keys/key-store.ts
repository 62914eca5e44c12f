/**
 * Virtual keys in KV. Layout: `vk:<sha256(secret)>` → the record (what auth reads, one KV get), and
 * `key:<id>` → {hash, record} (what the admin API reads). The secret itself is never stored.
 */
import type { KeyRecord } from "./key-record";

const CACHE_TTL_MS = 5_000;
const MAX_CACHED = 10_000;

interface Stored {
  hash: string;
  record: KeyRecord;
}

// Per-isolate cache of auth lookups. Admin writes in this isolate drop the entry at once; other isolates see
// a change within CACHE_TTL_MS (plus KV's own propagation delay on a deployed edge, up to ~60 s). Inference calls
// are also admitted by the key's Governor (src/governance), which the admin API writes first: revocation, expiry,
// deactivation and rotation are refused on the next call even while this cache or KV is stale.
const byHashCache = new Map<string, { rec: KeyRecord | null; until: number }>();

/**
 * The shape of an id the admin API hands out (`key_…`, `team_…`). Anything else names no record: it is answered
 * without asking KV, whose keys stop at 512 bytes (a longer one is a storage error, not "not found").
 */
export const isRecordId = (id: string) => /^[A-Za-z0-9_-]{1,128}$/.test(id);

export interface KeyListMeta {
  team_id: string | null;
  revoked: boolean;
  /** Lets the expiry alerts (src/alerts/expiring.ts) find expiring keys from the list; absent on older entries. */
  expires_at?: string | null;
}

const listMeta = (r: KeyRecord | undefined): KeyListMeta => ({ team_id: r?.team_id ?? null, revoked: !!r?.revoked_at, expires_at: r?.expires_at ?? null });

export class KeyStore {
  constructor(private readonly kv: KVNamespace) {}

  async byHash(hash: string, now = Date.now()): Promise<KeyRecord | null> {
    const hit = byHashCache.get(hash);
    if (hit && hit.until > now) return hit.rec;
    const rec = await this.kv.get<KeyRecord>(`vk:${hash}`, "json");
    if (byHashCache.size >= MAX_CACHED) byHashCache.clear();
    byHashCache.set(hash, { rec, until: now + CACHE_TTL_MS });
    return rec;
  }

  async byId(id: string): Promise<Stored | null> {
    if (!isRecordId(id)) return null;
    return this.kv.get<Stored>(`key:${id}`, "json");
  }

  async put(hash: string, record: KeyRecord): Promise<void> {
    await Promise.all([
      // Metadata lets the admin API find a team's keys from a list, without reading every record.
      this.kv.put(`key:${record.id}`, JSON.stringify({ hash, record } satisfies Stored), { metadata: listMeta(record) }),
      this.kv.put(`vk:${hash}`, JSON.stringify(record)),
    ]);
    byHashCache.delete(hash);
  }

  /** Moves a key to a new secret: the old hash stops resolving. */
  async rehash(oldHash: string, newHash: string, record: KeyRecord): Promise<void> {
    await this.put(newHash, record);
    await this.kv.delete(`vk:${oldHash}`);
    byHashCache.delete(oldHash);
  }

  /** Ids of the usable (not revoked) keys of a team. */
  async idsInTeam(teamId: string): Promise<string[]> {
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.kv.list<KeyListMeta>({ prefix: "key:", cursor });
      for (const k of page.keys) {
        const m = k.metadata ?? listMeta((await this.kv.get<Stored>(k.name, "json"))?.record);
        if (m.team_id === teamId && !m.revoked) ids.push(k.name.slice(4));
      }
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor);
    return ids;
  }

  /**
   * Up to `limit` keys of one team (revoked ones included), found from the list's metadata: pages of KV's list are
   * read, each no longer than what is still wanted, so a page never holds more matches than fit and none is skipped.
   */
  async listInTeam(teamId: string, limit: number, cursor?: string): Promise<{ records: KeyRecord[]; cursor?: string }> {
    const ids: string[] = [];
    let next = cursor;
    do {
      const page = await this.kv.list<KeyListMeta>({ prefix: "key:", limit: limit - ids.length, cursor: next });
      for (const k of page.keys) {
        const m = k.metadata ?? listMeta((await this.kv.get<Stored>(k.name, "json"))?.record);
        if (m.team_id === teamId) ids.push(k.name);
      }
      next = page.list_complete ? undefined : page.cursor;
    } while (next && ids.length < limit);
    const stored = await Promise.all(ids.map((name) => this.kv.get<Stored>(name, "json")));
    return { records: stored.filter((s): s is Stored => !!s).map((s) => s.record), cursor: next };
  }

  async list(limit: number, cursor?: string): Promise<{ records: KeyRecord[]; cursor?: string }> {
    const page = await this.kv.list({ prefix: "key:", limit, cursor });
    const stored = await Promise.all(page.keys.map((k) => this.kv.get<Stored>(k.name, "json")));
    return {
      records: stored.filter((s): s is Stored => !!s).map((s) => s.record),
      cursor: page.list_complete ? undefined : page.cursor,
    };
  }
}
