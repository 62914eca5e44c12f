/**
 * /admin/tokens: scoped admin tokens. Create (the only time the secret is shown), list, read, delete (the token is
 * refused from the next request on). Only root mints or deletes an `admin` token; an admin may mint and delete
 * viewer and team_admin tokens (src/routes/admin/access.ts). Viewers read; team admins have no access here but
 * `GET /admin/tokens/self`, which tells any caller its own role and team.
 */
import { Hono, type Context } from "hono";
import { ADMIN_TOKEN_PREFIX, adminTokens, TokenFields, type TokenRecord } from "../../auth/admin-tokens";
import { randomBase62, sha256Hex } from "../../auth/crypto";
import { isRecordId } from "../../keys/key-store";
import { audit, changesOf } from "../../audit/trail";
import type { AppEnv } from "../../env";
import { GatewayError, notFound } from "../../gemini/errors";
import { governor } from "../../lib/governors";
import { TeamStore } from "../../governance/team-store";
import { pageLimit, parseJson } from "./json";

export const tokensApp = new Hono<AppEnv>();

/** Only root makes or ends an admin token. */
function assertMayHandle(c: Context<AppEnv>, role: TokenRecord["role"]) {
  if (role === "admin" && c.var.actor.role !== "root") {
    throw new GatewayError(403, "only the root ADMIN_TOKEN mints or deletes admin tokens");
  }
}

tokensApp.post("/", async (c) => {
  const fields = await parseJson(c, TokenFields);
  assertMayHandle(c, fields.role);
  const teamId = fields.team_id ?? null;
  if (teamId) {
    const status = isRecordId(teamId) ? await governor(c.env, "team", teamId).teamStatus() : "none";
    if (status === "deleted" || (status === "none" && !(await new TeamStore(c.env.VIRTUAL_KEYS).get(teamId)))) {
      throw new GatewayError(400, `team_id: team "${teamId}" does not exist`);
    }
  }
  const secret = `${ADMIN_TOKEN_PREFIX}${randomBase62(40)}`;
  const record: TokenRecord = {
    id: `tok_${randomBase62(16)}`,
    name: fields.name,
    role: fields.role,
    team_id: teamId,
    prefix: secret.slice(0, ADMIN_TOKEN_PREFIX.length + 4),
    created_at: new Date().toISOString(),
    created_by: c.var.actor.id,
  };
  await adminTokens(c.env).create(record, await sha256Hex(secret));
  await audit(c.env, c.var.actor, "token.create", record.id, changesOf(null, record));
  return c.json({ ...record, token: secret }, 201);
});

tokensApp.get("/", async (c) => {
  const limit = pageLimit(c.req.query("limit"));
  const after = c.req.query("cursor") || undefined;
  const tokens = await adminTokens(c.env).list(limit + 1, after);
  const page = tokens.slice(0, limit);
  return c.json({ tokens: page, ...(tokens.length > limit ? { cursor: page.at(-1)!.id } : {}) });
});

/** Who is calling: the console reads it once after sign-in to show only what this role may do. */
tokensApp.get("/self", (c) => {
  const { id, name, role, team_id } = c.var.actor;
  return c.json({ id, name, role, team_id });
});

tokensApp.get("/:id", async (c) => {
  const id = c.req.param("id");
  const t = isRecordId(id) ? await adminTokens(c.env).get(id) : null;
  if (!t) throw notFound(`token "${id.slice(0, 200)}" not found`);
  return c.json(t);
});

tokensApp.delete("/:id", async (c) => {
  const id = c.req.param("id");
  const store = adminTokens(c.env);
  const t = isRecordId(id) ? await store.get(id) : null;
  if (!t) throw notFound(`token "${id.slice(0, 200)}" not found`);
  assertMayHandle(c, t.role);
  const gone = await store.delete(id);
  if (!gone) throw notFound(`token "${id}" not found`);
  await audit(c.env, c.var.actor, "token.delete", id, changesOf(gone, null));
  return c.json({ id, deleted: true });
});
