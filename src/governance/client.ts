/** The way to a subject's Governor: one Durable Object per key (`key:<id>`) and per team (`team:<id>`). */
import type { KeyRecord } from "../auth/key-record";
import type { Env } from "../env";
import { keyPolicy, teamPolicy } from "./policy";
import type { TeamRecord } from "./team-record";

export type Subject = "key" | "team";

export function governor(env: Env, subject: Subject, id: string) {
  return env.GOVERNOR.get(env.GOVERNOR.idFromName(`${subject}:${id}`));
}

/** Admin writes go to the Durable Object before KV, so a change is enforced before any reader can see it. */
export const configureKey = (env: Env, k: KeyRecord) => governor(env, "key", k.id).configure(keyPolicy(k));
export const configureTeam = (env: Env, t: TeamRecord) => governor(env, "team", t.id).configure(teamPolicy(t));
export const forgetTeam = (env: Env, id: string) => governor(env, "team", id).configure(null);
