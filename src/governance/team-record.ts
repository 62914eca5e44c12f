/** A team: shared limits over its keys. The admin API's input schema and what KV stores. Types via z.infer. */
import * as z from "zod/mini";
import { Budget, CachePolicy, RateLimit } from "../keys/key-record";

export const TeamFields = z.object({
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  rate_limit: z.optional(z.nullable(RateLimit)),
  budget: z.optional(z.nullable(Budget)),
  metadata: z.optional(z.record(z.string(), z.string())),
  cache: z.optional(z.nullable(CachePolicy)),
  /** Guardrail policies (names in `GUARDRAILS`) for every key of the team. */
  guardrails: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(64))).check(z.maxLength(50))),
  /** Store the request and answer of every call of the team's keys in LOG_BUCKET (docs/observability.md, "Bodies"). */
  log_bodies: z.optional(z.nullable(z.boolean())),
});
export const TeamPatch = z.partial(TeamFields);
export type TeamFields = z.infer<typeof TeamFields>;
export type TeamPatch = z.infer<typeof TeamPatch>;

export interface TeamRecord extends TeamFields {
  id: string;
  created_at: string;
  updated_at: string;
  /** Bumped by every admin write (the team's Governor is the one writer); `If-Match` on PATCH names it. */
  revision?: number;
  /** Changed by `DELETE /admin/cache?team_id=`: part of every team-scoped cache entry's key. */
  cache_generation?: number;
}
