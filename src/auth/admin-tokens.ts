/**
 * Scoped admin tokens (docs/admin-api.md, "Admin tokens and roles"). One Durable Object (`ADMIN_TOKENS`, the object named
 * "tokens") is their one writer and the only place they are read from: a token is looked up there on every admin
 * request, so a deleted token is refused on the very next request, everywhere (KV, eventually consistent for up to
 * a minute at the edge, could not promise that). A token is stored only as the SHA-256 of its secret.
 */
import { DurableObject } from "cloudflare:workers";
import * as z from "zod/mini";
import type { Env } from "../env";

const ROLES = ["admin", "viewer", "team_admin"] as const;
export type Role = (typeof ROLES)[number];

/** What `POST /admin/tokens` takes: a `team_admin` names its team, the other roles none. */
export const TokenFields = z
  .object({
    name: z.string().check(z.minLength(1), z.maxLength(200)),
    role: z.enum(ROLES),
    team_id: z.optional(z.nullable(z.string().check(z.minLength(1), z.maxLength(128)))),
  })
  .check(
    z.refine((t) => (t.role === "team_admin") === !!t.team_id, {
      message: "team_id is required for role team_admin, and only for it",
      path: ["team_id"],
    }),
  );
export type TokenFields = z.infer<typeof TokenFields>;

export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  team_id: string | null;
  /** First characters of the secret (`sk-ew-admin-` and 4 more), so people can tell tokens apart. */
  prefix: string;
  created_at: string;
  /** Who minted it: `root`, or a token's id. */
  created_by: string;
}

export const ADMIN_TOKEN_PREFIX = "sk-ew-admin-";
export const ADMIN_TOKEN_RE = /^sk-ew-admin-[0-9A-Za-z]{40}$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, json TEXT NOT NULL, created_at TEXT NOT NULL
);`;

declare module "../env" {
  interface Env {
    /** Scoped admin tokens, all in the one object named "tokens". */
    ADMIN_TOKENS: DurableObjectNamespace<AdminTokens>;
  }
}

export class AdminTokens extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec(SCHEMA);
  }

  create(record: TokenRecord, hash: string): TokenRecord {
    this.sql.exec("INSERT INTO tokens (id, hash, json, created_at) VALUES (?, ?, ?, ?)", record.id, hash, JSON.stringify(record), record.created_at);
    return record;
  }

  byHash(hash: string): TokenRecord | null {
    const row = this.sql.exec<{ json: string }>("SELECT json FROM tokens WHERE hash = ?", hash).toArray()[0];
    return row ? JSON.parse(row.json) : null;
  }

  get(id: string): TokenRecord | null {
    const row = this.sql.exec<{ json: string }>("SELECT json FROM tokens WHERE id = ?", id).toArray()[0];
    return row ? JSON.parse(row.json) : null;
  }

  /** `limit` tokens in id order, after the id `after` (the cursor of the page before). */
  list(limit: number, after?: string): TokenRecord[] {
    const rows = after
      ? this.sql.exec<{ json: string }>("SELECT json FROM tokens WHERE id > ? ORDER BY id LIMIT ?", after, limit).toArray()
      : this.sql.exec<{ json: string }>("SELECT json FROM tokens ORDER BY id LIMIT ?", limit).toArray();
    return rows.map((r) => JSON.parse(r.json));
  }

  /** Deletes the token; its record (as it was), or null if there was none. */
  delete(id: string): TokenRecord | null {
    const rec = this.get(id);
    if (rec) this.sql.exec("DELETE FROM tokens WHERE id = ?", id);
    return rec;
  }
}

export const adminTokens = (env: Pick<Env, "ADMIN_TOKENS">) => env.ADMIN_TOKENS.get(env.ADMIN_TOKENS.idFromName("tokens"));
