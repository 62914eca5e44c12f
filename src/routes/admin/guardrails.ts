/**
 * /admin/guardrails: the policies `GUARDRAILS` defines, or why it does not parse (a broken value is never silently
 * off); and the check every key and team write makes of the policy names it sets.
 */
import { Hono } from "hono";
import { getConfig, type Config } from "../../config";
import type { AppEnv } from "../../env";
import { badRequest } from "../../gemini/errors";
import { UsageQuery } from "../../usage/queries";
import { parseQuery } from "./json";

export const guardrailsApp = new Hono<AppEnv>();

guardrailsApp.get("/", (c) => {
  const g = getConfig(c.env).guardrails;
  const policies = Object.fromEntries([...(g?.policies ?? new Map()).values()].map((p) => [p.name, {
    ...p.spec,
    ...(g!.unusable.has(p.name) ? { unusable: g!.unusable.get(p.name) } : {}),
  }]));
  return c.json({ enabled: !!g, policies, ...(g?.error ? { error: g.error } : {}) });
});

/** A key or team write naming a policy `GUARDRAILS` does not define (or while it does not parse) is a 400. */
export function assertPoliciesDefined(config: Config, names: readonly string[] | undefined): void {
  if (!names?.length) return;
  const g = config.guardrails;
  if (!g) throw badRequest(`guardrails: GUARDRAILS is not set, so no policy "${names[0]}" is defined`);
  if (g.error) throw badRequest(`guardrails: ${g.error}`);
  const missing = names.filter((n) => !g.policies.has(n));
  if (missing.length) throw badRequest(`guardrails: policy ${missing.slice(0, 5).map((n) => `"${n.slice(0, 64)}"`).join(", ")} is not defined in GUARDRAILS`);
}

/**
 * What the policies did, by policy, stage and action: `actions` (a policy at a stage of a call counts one) and the
 * entities they found. Read from the usage rows still in D1 (the days compaction archived are not counted here;
 * their rollups' `guardrail_actions` are, in /admin/usage). Takes /admin/usage's filters.
 */
guardrailsApp.get("/usage", async (c) => {
  const q = parseQuery(c, UsageQuery);
  const cond = ["u.guardrails IS NOT NULL"];
  const args: (string | number)[] = [];
  if (q.key_id !== undefined) cond.push("u.key_id = ?"), args.push(q.key_id);
  if (q.team_id !== undefined) cond.push("u.team_id = ?"), args.push(q.team_id);
  if (q.provider !== undefined) cond.push("u.provider = ?"), args.push(q.provider);
  if (q.from !== undefined) cond.push("u.ts >= ?"), args.push(q.from);
  if (q.to !== undefined) cond.push("u.ts < ?"), args.push(q.to);
  const where = cond.join(" AND ");
  const g = (f: string) => `json_extract(g.value, '$.${f}')`;
  const [actions, entities] = await c.env.DB.batch<{ policy: string; stage: string; action: string; n: number; entity?: string }>([
    c.env.DB.prepare(`SELECT ${g("policy")} AS policy, ${g("stage")} AS stage, ${g("action")} AS action, count(*) AS n
      FROM usage u, json_each(u.guardrails) g WHERE ${where} AND json_extract(g.value, '$.entities') <> '{}' GROUP BY 1, 2, 3`).bind(...args),
    c.env.DB.prepare(`SELECT ${g("policy")} AS policy, ${g("stage")} AS stage, ${g("action")} AS action, e.key AS entity, total(e.value) AS n
      FROM usage u, json_each(u.guardrails) g, json_each(g.value, '$.entities') e WHERE ${where} GROUP BY 1, 2, 3, 4`).bind(...args),
  ]);
  const id = (r: { policy: string; stage: string; action: string }) => `${r.policy}\n${r.stage}\n${r.action}`;
  const out = new Map<string, { policy: string; stage: string; action: string; actions: number; entities: Record<string, number> }>();
  for (const r of actions!.results) out.set(id(r), { policy: r.policy, stage: r.stage, action: r.action, actions: r.n, entities: {} });
  for (const r of entities!.results) {
    const o = out.get(id(r));
    if (o) o.entities[r.entity!] = r.n;
  }
  return c.json({ policies: [...out.values()].sort((a, b) => b.actions - a.actions || (a.policy < b.policy ? -1 : 1)) });
});
