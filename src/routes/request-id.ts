/** The first middleware of /genai: a request id and start time on `c.var`, and the id on every response. */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env";
import { getConfig } from "../config";

export const requestId: MiddlewareHandler<AppEnv> = async (c, next) => {
  const id = crypto.randomUUID();
  c.set("requestId", id);
  c.set("startedAt", Date.now());
  c.set("config", getConfig(c.env));
  await next();
  // Errors thrown anywhere below were rendered by app.onError into c.res: they carry the id too.
  if (!c.res.headers.has("x-edgeway-request-id")) {
    try {
      c.res.headers.set("x-edgeway-request-id", id);
    } catch {
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set("x-edgeway-request-id", id);
    }
  }
};
