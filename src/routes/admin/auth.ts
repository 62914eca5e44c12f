/**
 * `Authorization: Bearer $ADMIN_TOKEN` for /admin/*. With no ADMIN_TOKEN set the admin API does not exist; with one
 * shorter than MIN_ADMIN_TOKEN characters it is refused (a guessable token would put every key at risk).
 */
import type { MiddlewareHandler } from "hono";
import { bearerToken } from "../../auth/credential";
import { timingSafeEqualStr } from "../../auth/crypto";
import type { AppEnv } from "../../env";
import { errorResponse, GatewayError } from "../../gemini/errors";

export const MIN_ADMIN_TOKEN = 32;

export const adminAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = c.env.ADMIN_TOKEN;
  if (!token) return errorResponse(new GatewayError(404, "admin API is disabled (ADMIN_TOKEN is not set)"));
  if (token.length < MIN_ADMIN_TOKEN) {
    return errorResponse(new GatewayError(
      503,
      `admin API is disabled: ADMIN_TOKEN is ${token.length} characters long, and must be at least ${MIN_ADMIN_TOKEN} ` +
        "(e.g. `openssl rand -base64 33 | npx wrangler secret put ADMIN_TOKEN`)",
    ));
  }
  const given = bearerToken(c.req.header("authorization"));
  if (!given) return errorResponse(new GatewayError(401, "admin API needs Authorization: Bearer <ADMIN_TOKEN>"));
  if (!(await timingSafeEqualStr(given, token))) return errorResponse(new GatewayError(401, "admin token not valid"));
  await next();
};
