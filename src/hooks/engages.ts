/**
 * The common `engages` test (src/hooks/hook.ts): whether the key's record, or its team's as this isolate holds it,
 * sets what a hook acts on. A team the isolate does not hold (or holds stale) may set it: the hook is asked, and its
 * `beforeUpstream` reads the team. A direct call has no team of its own (its record is a stand-in).
 */
import { heldTeam } from "../governance/team-store";
import type { TeamRecord } from "../governance/team-record";
import type { KeyRecord } from "../keys/key-record";
import type { CallContext } from "../pipeline/context";

export function keyOrTeamSets(call: CallContext, sets: (r: KeyRecord | TeamRecord) => boolean): boolean {
  const key = call.gate.record;
  if (sets(key)) return true;
  if (!key.team_id || call.direct) return false;
  const team = heldTeam(key.team_id);
  return team === undefined || (team !== null && sets(team));
}
