/** The way to a subject's Governor: one Durable Object per key (`key:<id>`) and per team (`team:<id>`). */
import type { Env } from "../env";
import type { Subject } from "./governor";

export function governor(env: Pick<Env, "GOVERNOR">, subject: Subject, id: string) {
  return env.GOVERNOR.get(env.GOVERNOR.idFromName(`${subject}:${id}`));
}
