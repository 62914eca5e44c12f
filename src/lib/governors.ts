/**
 * The way to a subject's Governor (src/governance/governor.ts): one Durable Object per key (`key:<id>`) and per
 * team (`team:<id>`), reached through the GOVERNOR binding. A foundation because two stages talk to the Governors:
 * admission (leases, holds) and the record stage (settling stored rows).
 */
import type { Env } from "../env";

export type Subject = "key" | "team";

export function governor(env: Pick<Env, "GOVERNOR">, subject: Subject, id: string) {
  return env.GOVERNOR.get(env.GOVERNOR.idFromName(`${subject}:${id}`));
}
