/** GET /admin/resources: every Gemini resource created through the gateway, who owns it, newest first, paged. */
import { Hono } from "hono";
import * as z from "zod/mini";
import type { Env } from "../../env";
import { badRequest } from "../../gemini/errors";
import { adminList, KINDS, type ResourceRow } from "../../resources/store";
import { decodeCursor, encodeCursor } from "../../usage/queries";
import { pageLimit, parseQuery } from "./json";

const Id = z.string().check(z.minLength(1), z.maxLength(200));
const ResourcesQuery = z.strictObject({
  key_id: z.optional(Id),
  team_id: z.optional(Id),
  kind: z.optional(z.enum(KINDS)),
  limit: z.optional(z.string()),
  cursor: z.optional(z.string()),
});

export const resourcesApp = new Hono<{ Bindings: Env }>();

resourcesApp.get("/", async (c) => {
  const q = parseQuery(c, ResourcesQuery);
  const limit = pageLimit(q.limit);
  const before = q.cursor ? decodeCursor(q.cursor) : undefined;
  if (q.cursor && !before) throw badRequest("cursor is not valid: pass next_cursor from the previous page unchanged");
  const rows = await adminList(c.env.DB, q, before && { ts: before.ts, name: before.requestId }, limit + 1);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return c.json({
    resources: page.map(view),
    ...(rows.length > limit && last ? { next_cursor: encodeCursor(last.created_at, last.name) } : {}),
  });
});

/** A row as the admin API shows it: times as ISO strings; a batch's hold bookkeeping stays inside. */
function view(r: ResourceRow) {
  const meta = r.meta ? (JSON.parse(r.meta) as { requests?: number }) : undefined;
  return {
    name: r.name,
    kind: r.kind,
    provider: r.provider,
    key_id: r.key_id,
    team_id: r.team_id,
    shared: r.shared === 1,
    model: r.model,
    state: r.state,
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
    finished_at: r.finished_at === null ? null : new Date(r.finished_at).toISOString(),
    ...(r.size_bytes !== null ? { size_bytes: r.size_bytes } : {}),
    ...(meta?.requests !== undefined ? { requests: meta.requests } : {}),
  };
}
