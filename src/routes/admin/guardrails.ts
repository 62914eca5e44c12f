/**
 * /admin/guardrails: the policies `GUARDRAILS` defines, or why it does not parse (a broken value is never silently
 * off); and the check every key and team write makes of the policy names it sets.
 */
import { Hono } from "hono";
import { getConfig, type Config } from "../../config";
import type { AppEnv } from "../../env";
import { badRequest } from "../../gemini/errors";

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
