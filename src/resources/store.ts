/**
 * Who owns each Gemini resource created through the gateway (D1 table `resources`, migrations/0005_resources.sql).
 * Every read is through a viewer: the key's own resources, plus its team's shared ones when the key shares too
 * (`resource_scope: "team"`). A resource a viewer may not see is reported exactly like one that does not exist.
 */
import type { KeyRecord } from "../keys/key-record";

export const KINDS = ["file", "cachedContent", "batch", "operation"] as const;
export type Kind = (typeof KINDS)[number];

/** Not listed, not found: deleted through the gateway, or found missing upstream (expired). */
const DEAD = "('deleted', 'gone')";

export interface ResourceRow {
  provider: string;
  name: string;
  kind: Kind;
  alias: string | null;
  key_id: string;
  team_id: string | null;
  shared: number;
  model: string | null;
  state: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  size_bytes: number | null;
  lines: number | null;
  meta: string | null;
}

export interface Owner {
  key_id: string;
  team_id: string | null;
  shared: number;
}

/** Who a new resource belongs to: the key, shared with its team when the key says so (and has one). */
export function ownerOf(key: KeyRecord): Owner {
  return { key_id: key.id, team_id: key.team_id ?? null, shared: key.resource_scope === "team" && key.team_id ? 1 : 0 };
}

/** The team whose shared resources a key sees, if any. */
const sharedTeam = (key: KeyRecord) => (key.resource_scope === "team" && key.team_id ? key.team_id : null);

const VISIBLE = "(key_id = ?1 OR (?2 IS NOT NULL AND shared = 1 AND team_id = ?2))";

export type NewResource = Pick<ResourceRow, "name" | "kind"> &
  Partial<Pick<ResourceRow, "alias" | "model" | "state" | "size_bytes" | "lines" | "meta">>;

export class ResourceStore {
  constructor(private readonly db: D1Database, private readonly provider = "gemini") {}

  /** A resource the upstream just created: it is the owner's, whoever held the name before (that one is gone). */
  async create(owner: Owner, r: NewResource, now = Date.now()): Promise<void> {
    await this.db
      .prepare(
        `INSERT INTO resources (provider, name, kind, alias, key_id, team_id, shared, model, state, created_at, updated_at, size_bytes, lines, meta)
         VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
         ON CONFLICT (provider, name) DO UPDATE SET kind = excluded.kind, alias = excluded.alias, key_id = excluded.key_id,
           team_id = excluded.team_id, shared = excluded.shared, model = excluded.model, state = excluded.state,
           created_at = excluded.created_at, updated_at = excluded.updated_at, finished_at = NULL,
           size_bytes = excluded.size_bytes, lines = excluded.lines, meta = excluded.meta`,
      )
      .bind(this.provider, r.name, r.kind, r.alias ?? null, owner.key_id, owner.team_id, owner.shared, r.model ?? null,
        r.state ?? "active", now, now, r.size_bytes ?? null, r.lines ?? null, r.meta ?? null)
      .run();
  }

  /**
   * Files a batch or an operation produced (its responses file, a generated video): they belong to the owner of
   * what produced them. A name already recorded keeps its owner.
   */
  async adopt(owner: Owner, names: readonly string[], now = Date.now()): Promise<void> {
    if (!names.length) return;
    await this.db.batch(
      names.map((name) =>
        this.db
          .prepare(
            `INSERT INTO resources (provider, name, kind, key_id, team_id, shared, state, created_at, updated_at)
             VALUES (?, ?, 'file', ?, ?, ?, 'active', ?, ?) ON CONFLICT (provider, name) DO NOTHING`,
          )
          .bind(this.provider, name, owner.key_id, owner.team_id, owner.shared, now, now),
      ),
    );
  }

  /** The resource if `key` may see it and it is not deleted; undefined otherwise (the caller answers 404). */
  async find(key: KeyRecord, kind: Kind, name: string): Promise<ResourceRow | undefined> {
    const row = await this.db
      .prepare(`SELECT * FROM resources WHERE provider = ?3 AND (name = ?4 OR alias = ?4) AND kind = ?5 AND state NOT IN ${DEAD} AND ${VISIBLE} LIMIT 1`)
      .bind(key.id, sharedTeam(key), this.provider, name, kind)
      .first<ResourceRow>();
    return row ?? undefined;
  }

  /** Of `names`, those `key` may not use (unknown, deleted, or another's). */
  async notVisible(key: KeyRecord, kind: Kind, names: readonly string[]): Promise<string[]> {
    const unique = [...new Set(names)];
    const found = await this.db.batch(
      unique.map((n) =>
        this.db
          .prepare(`SELECT name FROM resources WHERE provider = ?3 AND name = ?4 AND kind = ?5 AND state NOT IN ${DEAD} AND ${VISIBLE}`)
          .bind(key.id, sharedTeam(key), this.provider, n, kind),
      ),
    );
    return unique.filter((_, i) => !found[i]!.results.length);
  }

  /** One page of what `key` may see of a kind, oldest first, after the (created_at, name) of the previous page. */
  async list(key: KeyRecord, kind: Kind, after: { ts: number; name: string } | undefined, limit: number): Promise<ResourceRow[]> {
    const { results } = await this.db
      .prepare(
        `SELECT * FROM resources WHERE provider = ?3 AND kind = ?4 AND state NOT IN ${DEAD} AND ${VISIBLE}
         AND (?5 IS NULL OR (created_at, name) > (?5, ?6)) ORDER BY created_at, name LIMIT ?7`,
      )
      .bind(key.id, sharedTeam(key), this.provider, kind, after?.ts ?? null, after?.name ?? "", limit)
      .all<ResourceRow>();
    return results;
  }

  async setState(name: string, state: string, now = Date.now()): Promise<void> {
    await this.db.prepare("UPDATE resources SET state = ?, updated_at = ? WHERE provider = ? AND name = ?").bind(state, now, this.provider, name).run();
  }

  /** Replaces a resource's `meta` if it is still `was` (two writers racing: one wins); true for the winner. */
  async swapMeta(name: string, was: string | null, meta: string, now = Date.now()): Promise<boolean> {
    const r = await this.db
      .prepare("UPDATE resources SET meta = ?, updated_at = ? WHERE provider = ? AND name = ? AND meta IS ?")
      .bind(meta, now, this.provider, name, was)
      .run();
    return (r.meta.changes ?? 0) > 0;
  }

  /**
   * Marks a batch or operation finished, once: true for the one caller that made the change (a poll and the sweep
   * may both see it finish).
   */
  async finish(name: string, state: string, now = Date.now()): Promise<boolean> {
    const r = await this.db
      .prepare("UPDATE resources SET state = ?, finished_at = ?, updated_at = ? WHERE provider = ? AND name = ? AND finished_at IS NULL")
      .bind(state, now, now, this.provider, name)
      .run();
    return (r.meta.changes ?? 0) > 0;
  }

  /** Batches and operations not yet seen finished (gone ones too: their holds end), least recently looked at first. */
  async open(limit: number): Promise<ResourceRow[]> {
    const { results } = await this.db
      .prepare("SELECT * FROM resources WHERE finished_at IS NULL AND kind IN ('batch', 'operation') ORDER BY updated_at LIMIT ?")
      .bind(limit)
      .all<ResourceRow>();
    return results;
  }
}

/** What /admin/resources filters on. */
export interface AdminFilter {
  key_id?: string;
  team_id?: string;
  kind?: Kind;
}

/** Every recorded resource (deleted ones too), newest first, keyset-paged on (created_at, name). */
export async function adminList(db: D1Database, f: AdminFilter, before: { ts: number; name: string } | undefined, limit: number): Promise<ResourceRow[]> {
  const cond: string[] = [];
  const args: (string | number)[] = [];
  if (f.key_id !== undefined) cond.push("key_id = ?"), args.push(f.key_id);
  if (f.team_id !== undefined) cond.push("team_id = ?"), args.push(f.team_id);
  if (f.kind !== undefined) cond.push("kind = ?"), args.push(f.kind);
  if (before) cond.push("(created_at, name) < (?, ?)"), args.push(before.ts, before.name);
  const where = cond.length ? `WHERE ${cond.join(" AND ")}` : "";
  const { results } = await db
    .prepare(`SELECT * FROM resources ${where} ORDER BY created_at DESC, name DESC LIMIT ?`)
    .bind(...args, limit)
    .all<ResourceRow>();
  return results;
}
