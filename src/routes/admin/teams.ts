/** /admin/teams: teams share rate limits and a budget over their keys. */
import { Hono } from "hono";
import { randomBase62 } from "../../auth/crypto";
import { KeyStore } from "../../auth/key-store";
import type { Env } from "../../env";
import { GatewayError, notFound } from "../../gemini/errors";
import { configureTeam, forgetTeam } from "../../governance/client";
import { TeamFields, TeamPatch, type TeamRecord } from "../../governance/team-record";
import { TeamStore } from "../../governance/team-store";
import { pageLimit, parseJson } from "./json";

export const teamsApp = new Hono<{ Bindings: Env }>();

const store = (env: Env) => new TeamStore(env.VIRTUAL_KEYS);

async function load(env: Env, id: string): Promise<TeamRecord> {
  const t = await store(env).get(id);
  if (!t) throw notFound(`team "${id}" not found`);
  return t;
}

/** The team's Governor first (enforced at once), then KV. */
async function save(env: Env, t: TeamRecord) {
  await configureTeam(env, t);
  await store(env).put(t);
}

teamsApp.post("/", async (c) => {
  const fields = await parseJson(c, TeamFields);
  const now = new Date().toISOString();
  const team: TeamRecord = { ...fields, id: `team_${randomBase62(16)}`, created_at: now, updated_at: now };
  await save(c.env, team);
  return c.json(team, 201);
});

teamsApp.get("/", async (c) => {
  const page = await store(c.env).list(pageLimit(c.req.query("limit")), c.req.query("cursor") || undefined);
  return c.json({ teams: page.records, ...(page.cursor ? { cursor: page.cursor } : {}) });
});

teamsApp.get("/:id", async (c) => c.json(await load(c.env, c.req.param("id"))));

teamsApp.patch("/:id", async (c) => {
  const patch = await parseJson(c, TeamPatch);
  const team = await load(c.env, c.req.param("id"));
  const next: TeamRecord = { ...team, ...patch, id: team.id, created_at: team.created_at, updated_at: new Date().toISOString() };
  await save(c.env, next);
  return c.json(next);
});

/** Refused while usable keys still belong to the team: deleting it would silently lift their team limits. */
teamsApp.delete("/:id", async (c) => {
  const team = await load(c.env, c.req.param("id"));
  const keys = await new KeyStore(c.env.VIRTUAL_KEYS).idsInTeam(team.id);
  if (keys.length) {
    throw new GatewayError(409, `team "${team.id}" still has ${keys.length} key(s) (${keys.slice(0, 5).join(", ")}): move or revoke them first`);
  }
  await forgetTeam(c.env, team.id);
  await store(c.env).delete(team.id);
  return c.json({ id: team.id, deleted: true });
});
