/**
 * Resumable uploads in progress (D1 table `uploads`). The caller is given a gateway URL holding an opaque id; only
 * the id's SHA-256 is stored, beside the provider's upload URL (which itself works as a credential, so it never
 * leaves the gateway). A session answers only to the key that started it, and only until it expires.
 */
import { randomBase62, sha256Hex } from "../auth/crypto";
import { NEW_SCAN } from "./line-scan";
import type { Owner } from "./store";

/** How long an upload URL works: long enough for a 2 GiB file over a slow link, short enough to be forgotten. */
export const UPLOAD_TTL_MS = 24 * 3600_000;

export interface UploadSession {
  id: string;
  key_id: string;
  team_id: string | null;
  shared: number;
  upstream_url: string;
  declared: number | null;
  received: number;
  lines: number;
  ends_nl: number;
  /** What its lines name so far (src/resources/line-scan.ts); null for a session from before scanning. */
  scan: string | null;
  /** The unfinished last line's bytes (D1 gives a BLOB back as an array of numbers). */
  carry: number[] | ArrayBuffer | null;
  created_at: number;
  expires_at: number;
}

export class UploadStore {
  constructor(private readonly db: D1Database) {}

  /** A new session; returns the opaque id for the caller's upload URL. */
  async open(owner: Owner, upstreamUrl: string, declared: number | null, now = Date.now()): Promise<string> {
    const id = randomBase62(43);
    await this.db
      .prepare(
        "INSERT INTO uploads (id, key_id, team_id, shared, upstream_url, declared, scan, created_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
      )
      .bind(await sha256Hex(id), owner.key_id, owner.team_id, owner.shared, upstreamUrl, declared, NEW_SCAN, now, now + UPLOAD_TTL_MS)
      .run();
    return id;
  }

  /** The session of `id` if `keyId` started it and it has not expired. */
  async get(id: string, keyId: string, now = Date.now()): Promise<UploadSession | undefined> {
    if (!/^[A-Za-z0-9]{43}$/.test(id)) return undefined;
    const row = await this.db
      .prepare("SELECT * FROM uploads WHERE id = ? AND key_id = ? AND expires_at > ?")
      .bind(await sha256Hex(id), keyId, now)
      .first<UploadSession>();
    return row ? { ...row, id } : undefined;
  }

  /**
   * Bytes the upstream accepted at `offset`, and what their lines name: counted only if nothing else was counted
   * there first.
   */
  async advance(s: UploadSession, offset: number, bytes: number, lines: number, endsNl: boolean, scan: { scan: string; carry: Uint8Array | null }): Promise<void> {
    await this.db
      .prepare("UPDATE uploads SET received = received + ?, lines = lines + ?, ends_nl = ?, scan = ?, carry = ? WHERE id = ? AND received = ?")
      .bind(bytes, lines, endsNl ? 1 : 0, scan.scan, scan.carry, await sha256Hex(s.id), offset)
      .run();
  }

  async close(id: string): Promise<void> {
    await this.db.prepare("DELETE FROM uploads WHERE id = ?").bind(await sha256Hex(id)).run();
  }

  /** Forgets expired sessions (the scheduled sweep). */
  async sweep(now = Date.now()): Promise<number> {
    const r = await this.db.prepare("DELETE FROM uploads WHERE expires_at <= ?").bind(now).run();
    return r.meta.changes ?? 0;
  }
}
