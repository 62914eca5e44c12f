/**
 * /admin/teams: teams share rate limits and a budget over their keys. Writes go through the team's Governor (one
 * writer, a revision per write; `If-Match` makes a write conditional).
 */
import { Hono } from "hono";
import { randomBase62 } from "../../auth/crypto";
import { KeyStore } from "../../keys/key-store";
import { audit, changesOf } from "../../audit/trail";
import type { AppEnv, Env } from "../../env";
import { GatewayError, notFound } from "../../gemini/errors";
import { governor } from "../../lib/governors";
import { invalidateLease } from "../../governance/lease";
import { beforeBudget } from "./budget-write";
import { TeamFields, TeamPatch, type TeamRecord } from "../../governance/team-record";
import { forgetTeam, TeamStore } from "../../governance/team-store";
import { scopedTeam } from "./access";
import { assertPoliciesDefined } from "./guardrails";
import { getConfig } from "../../config";
import { ifRevision, pageLimit, parseJson, written } from "./json";

export const teamsApp = new Hono<AppEnv>();

const store = (env: Env) => new TeamStore(env.VIRTUAL_KEYS);

async function load(env: Env, id: string): Promise<TeamRecord> {
  const t = (await governor(env, "team", id).readTeam()) ?? (await store(env).get(id));
  if (!t) throw notFound(`team "${id}" not found`);
  return t;
}

teamsApp.post("/", async (c) => {
  const fields = await parseJson(c, TeamFields);
  assertPoliciesDefined(getConfig(c.env), fields.guardrails);
  const now = new Date().toISOString();
  const team: TeamRecord = { ...fields, id: `team_${randomBase62(16)}`, created_at: now, updated_at: now };
  const created = written(await governor(c.env, "team", team.id).createTeam(team));
  await audit(c.env, c.var.actor, "team.create", created.id, changesOf(null, created));
  return c.json(created, 201);
});

teamsApp.get("/", async (c) => {
  // A team admin sees its own team only (src/routes/admin/access.ts).
  const own = scopedTeam(c.var.actor);
  if (own !== undefined) {
    const t = await load(c.env, own).catch(() => undefined);
    return c.json({ teams: t ? [t] : [] });
  }
  const page = await store(c.env).list(pageLimit(c.req.query("limit")), c.req.query("cursor") || undefined);
  return c.json({ teams: page.records, ...(page.cursor ? { cursor: page.cursor } : {}) });
});

teamsApp.get("/:id", async (c) => {
  const t = await load(c.env, c.req.param("id"));
  c.header("etag", `"${t.revision ?? 1}"`);
  return c.json(t);
});

teamsApp.patch("/:id", async (c) => {
  const patch = await parseJson(c, TeamPatch);
  assertPoliciesDefined(getConfig(c.env), patch.guardrails);
  const team = await load(c.env, c.req.param("id"));
  const gov = governor(c.env, "team", team.id);
  // A team from before Governors kept records: hand its Governor the record once.
  if (!(await gov.readTeam())) await gov.createTeam(team);
  if (patch.budget) await beforeBudget(c.env, "team", team.id);
  const w = await gov.updateTeam(patch, ifRevision(c));
  const r = written(w);
  invalidateLease("team", team.id);
  // Read on calls through a short per-isolate copy (a cache policy): this isolate's calls see the write at once.
  forgetTeam(team.id);
  await audit(c.env, c.var.actor, "team.update", team.id, changesOf(w.ok ? w.before : team, r));
  return c.json(r);
});

/** Refused while usable keys still belong to the team: deleting it would silently lift their team limits. */
teamsApp.delete("/:id", async (c) => {
  const team = await load(c.env, c.req.param("id"));
  const keys = await new KeyStore(c.env.VIRTUAL_KEYS).idsInTeam(team.id);
  if (keys.length) {
    throw new GatewayError(409, `team "${team.id}" still has ${keys.length} key(s) (${keys.slice(0, 5).join(", ")}): move or revoke them first`);
  }
  const gov = governor(c.env, "team", team.id);
  if (!(await gov.readTeam())) await gov.createTeam(team);
  written(await gov.deleteTeam());
  invalidateLease("team", team.id);
  await audit(c.env, c.var.actor, "team.delete", team.id, changesOf(team, null));
  return c.json({ id: team.id, deleted: true });
});
