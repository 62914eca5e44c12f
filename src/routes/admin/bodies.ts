/**
 * GET /admin/logs/{request_id}/body: a call's stored request and answer (src/observe/bodies.ts; docs/admin-api.md,
 * "Call bodies"). 404 when none is stored (the key and team did not set `log_bodies`, the call is older than
 * LOG_BODIES_RETENTION_DAYS, or it is another team's call and the reader a team admin); 503 when LOG_BUCKET is unbound.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { GatewayError } from "../../gemini/errors";
import { readBody } from "../../observe/body-store";
import { scopedTeam } from "./access";

export const bodiesApp = new Hono<AppEnv>();

bodiesApp.get("/:id/body", async (c) => {
  const bucket = c.env.LOG_BUCKET;
  if (!bucket) {
    throw new GatewayError(503, "no body is stored: the LOG_BUCKET binding is not configured (docs/observability.md, \"Bodies\")");
  }
  const id = c.req.param("id");
  const text = await readBody(c.env, bucket, id, scopedTeam(c.var.actor));
  if (text === null) throw new GatewayError(404, `no body stored for request ${JSON.stringify(id.slice(0, 100))}`);
  return new Response(text, { headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
});
