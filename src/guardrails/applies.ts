/** Which policies a call runs: those its key names, then its team's, each checked to be defined and usable. */
import { GatewayError } from "../gemini/errors";
import { TeamStore } from "../governance/team-store";
import type { CallScope } from "../pipeline/context";
import type { Guardrails, Policy } from "./policy";

/** The policies the key names, then its team's (each once). */
export async function policyNames(call: CallScope): Promise<string[]> {
  const key = call.gate.record;
  const own = key.guardrails ?? [];
  const teamId = key.team_id;
  if (!teamId || call.direct) return own;
  const team = await new TeamStore(call.env.VIRTUAL_KEYS).cachedGet(teamId);
  const theirs = team?.guardrails ?? [];
  return theirs.length ? [...new Set([...own, ...theirs])] : own;
}

/** The named policies; a var that does not parse, a name it does not define, or a policy that cannot run is a 503. */
export function resolve(g: Guardrails, names: readonly string[]): Policy[] {
  if (g.error) throw unavailable(`${g.error}; calls of keys and teams that name a guardrail policy are refused until it is fixed`);
  return names.map((name) => {
    const p = g.policies.get(name);
    if (!p) throw unavailable(`guardrail policy "${name}" named by this key or its team is not defined in GUARDRAILS`);
    const why = g.unusable.get(name);
    if (why) throw unavailable(why);
    return p;
  });
}

const unavailable = (message: string) => new GatewayError(503, message);

