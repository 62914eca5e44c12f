/**
 * GET /admin/audit: the audit trail, newest first, keyset-paged (`next_cursor`), filtered by `actor` (a token's id
 * or name, or `root`), `action` (`key.rotate`, or a kind: `key`, `team`, `token`), `target` (a record's id), and
 * `from`/`to` (as /admin/logs takes them).
 */
import { Hono } from "hono";
import * as z from "zod/mini";
import { ACTIONS, type AuditRow } from "../../audit/trail";
import type { AppEnv } from "../../env";
import { badRequest } from "../../gemini/errors";
import { parseInstant } from "../../usage/queries";
import { pageLimit, parseQuery } from "./json";

const Text = z.string().check(z.minLength(1), z.maxLength(200));
const AuditQuery = z.strictObject({
  actor: z.optional(Text),
  action: z.optional(z.enum([...ACTIONS, "key", "team", "token"])),
  target: z.optional(Text),
  from: z.optional(z.string()),
  to: z.optional(z.string()),
  limit: z.optional(z.string()),
  cursor: z.optional(z.string()),
});

export const auditApp = new Hono<AppEnv>();

function instant(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const t = parseInstant(raw);
  if (t === undefined) throw badRequest(`invalid query: ${name}: expected an ISO date (2026-01-31), date-time (2026-01-31T12:00:00Z) or ms since epoch`);
  return t;
}

const encodeCursor = (id: number) => btoa(`a${id}`).replace(/=+$/, "");
function decodeCursor(s: string): number {
  let text = "";
  try {
    text = atob(s);
  } catch {}
  const m = /^a(\d{1,15})$/.exec(text);
  if (!m) throw badRequest("cursor is not valid: pass next_cursor from the previous page unchanged");
  return Number(m[1]);
}

auditApp.get("/", async (c) => {
  const q = parseQuery(c, AuditQuery);
  const limit = pageLimit(q.limit);
  const from = instant("from", q.from);
  const to = instant("to", q.to);
  if (from !== undefined && to !== undefined && from >= to) throw badRequest("invalid query: to: must be after from");
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.actor !== undefined) {
    where.push("(actor_id = ? OR actor_name = ?)");
    args.push(q.actor, q.actor);
  }
  if (q.action !== undefined) {
    if (q.action.includes(".")) where.push("action = ?");
    else where.push("action LIKE ? || '.%'");
    args.push(q.action);
  }
  if (q.target !== undefined) {
    where.push("target = ?");
    args.push(q.target);
  }
  if (from !== undefined) {
    where.push("at >= ?");
    args.push(from);
  }
  if (to !== undefined) {
    where.push("at < ?");
    args.push(to);
  }
  if (q.cursor !== undefined) {
    where.push("id < ?");
    args.push(decodeCursor(q.cursor));
  }
  const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`;
  const { results } = await c.env.DB.prepare(sql).bind(...args, limit + 1).all<AuditRow>();
  const page = results.slice(0, limit);
  const last = page.at(-1);
  return c.json({
    entries: page.map((r) => ({
      id: r.id,
      at: new Date(r.at).toISOString(),
      actor: { id: r.actor_id, name: r.actor_name, role: r.actor_role },
      action: r.action,
      target: r.target,
      changes: JSON.parse(r.changes) as unknown,
    })),
    ...(results.length > limit && last ? { next_cursor: encodeCursor(last.id) } : {}),
  });
});
