/**
 * CORS for the inference routes (mounted on `/genai/*` only: the admin API is never offered to browsers). Off
 * unless `CORS_ORIGINS` names origins (or `*`). A preflight from an allowed origin is answered here, before any
 * route or key check; every answer to an allowed origin (errors too, so a browser app can read them) names it and
 * exposes the gateway's headers.
 */
import type { MiddlewareHandler } from "hono";
import { getConfig } from "../config";
import type { AppEnv } from "../env";
import { errorResponse, GatewayError } from "../gemini/errors";

/** Request headers the SDKs send: credentials (every place a virtual key is read from), the gateway's own, Google's. */
const ALLOW_HEADERS = [
  "authorization", "content-type", "user-agent", "x-api-key", "x-bf-vk", "x-edgeway-timeout-ms",
  "x-goog-api-client", "x-goog-api-key", "x-goog-user-project", "x-server-timeout",
  "x-goog-upload-command", "x-goog-upload-file-name", "x-goog-upload-header-content-length",
  "x-goog-upload-header-content-type", "x-goog-upload-offset", "x-goog-upload-protocol",
].join(", ");
const ALLOW_METHODS = "GET, POST, PATCH, DELETE";
/** Answer headers a browser app may read: the gateway's, a 429's wait, and what a resumable upload answers. */
const EXPOSE_HEADERS = [
  "x-edgeway-request-id", "x-edgeway-provider", "x-edgeway-model", "x-edgeway-attempts", "retry-after",
  "x-goog-upload-url", "x-goog-upload-status",
].join(", ");
/** How long a browser may cache a preflight (Chromium caps it at 2 hours). */
const MAX_AGE = "7200";

export const cors: MiddlewareHandler<AppEnv> = async (c, next) => {
  const policy = getConfig(c.env).cors;
  const origin = c.req.header("origin");
  if (!policy || origin === undefined) return next();
  const allowed = policy.any || policy.origins.has(origin) ? (policy.any ? "*" : origin) : undefined;
  const set = (h: Headers) => {
    if (!policy.any) h.append("vary", "Origin");
    if (allowed) h.set("access-control-allow-origin", allowed);
  };
  if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
    const res = allowed
      ? new Response(null, {
          status: 204,
          headers: { "access-control-allow-methods": ALLOW_METHODS, "access-control-allow-headers": ALLOW_HEADERS, "access-control-max-age": MAX_AGE },
        })
      : errorResponse(new GatewayError(403, `origin ${origin.slice(0, 200)} is not allowed (CORS_ORIGINS)`));
    set(res.headers);
    return res;
  }
  await next();
  // Answers built by the gateway have mutable headers; anything else is copied first.
  try {
    set(c.res.headers);
  } catch {
    c.res = new Response(c.res.body, c.res);
    set(c.res.headers);
  }
  if (allowed) c.res.headers.set("access-control-expose-headers", EXPOSE_HEADERS);
};
