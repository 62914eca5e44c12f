/** `Authorization: Bearer $ADMIN_TOKEN` for /admin/*. With no ADMIN_TOKEN set the admin API does not exist. */
import type { MiddlewareHandler } from "hono";
import { bearerToken } from "../../auth/credential";
import { timingSafeEqualStr } from "../../auth/crypto";
import type { Env } from "../../env";
import { errorResponse, GatewayError } from "../../gemini/errors";

export const adminAuth: MiddlewareHandler<{ Bindings: Env }> = async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) return errorResponse(new GatewayError(404, "admin API is disabled (ADMIN_TOKEN is not set)"));
  const given = bearerToken(c.req.header("authorization"));
  if (!given) return errorResponse(new GatewayError(401, "admin API needs Authorization: Bearer <ADMIN_TOKEN>"));
  if (!(await timingSafeEqualStr(given, token))) return errorResponse(new GatewayError(401, "admin token not valid"));
  await next();
};
