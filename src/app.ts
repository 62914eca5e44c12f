/** The Hono app: inference routes under /genai, the admin API under /admin, Gemini-style errors everywhere. */
import { Hono } from "hono";
import type { AppEnv } from "./env";
import { errorResponse, GatewayError } from "./gemini/errors";
import { discardUnread } from "./pipeline/body";
import { authorize } from "./routes/admin/access";
import { alertsApp } from "./routes/admin/alerts";
import { auditApp } from "./routes/admin/audit";
import { bodiesApp } from "./routes/admin/bodies";
import { cacheApp } from "./routes/admin/cache";
import { guardrailsApp } from "./routes/admin/guardrails";
import { adminAuth } from "./routes/admin/auth";
import { keysApp } from "./routes/admin/keys";
import { metricsApp } from "./routes/admin/metrics";
import { providersApp } from "./routes/admin/providers";
import { resourcesApp } from "./routes/admin/resources";
import { statsApp } from "./routes/admin/stats";
import { teamsApp } from "./routes/admin/teams";
import { tokensApp } from "./routes/admin/tokens";
import { logsApp, usageApp } from "./routes/admin/usage";
import { cors } from "./routes/cors";
import { genaiApp } from "./routes/genai";
import { RememberingRouter, routedPath } from "./http/router";

export function buildApp() {
  const app = new Hono<AppEnv>({ getPath: routedPath, router: new RememberingRouter() });
  // A refusal answered before its (small) body was read: the body is read away after, so the connection stays open
  // for the client's next request (src/pipeline/body.ts). A body refused for its size is never read.
  app.use("*", async (c, next) => {
    await next();
    if (c.res.status >= 400 && c.res.status !== 413) await discardUnread(c.req.raw);
  });
  // Browsers may call the inference routes (when CORS_ORIGINS allows), never the admin API.
  app.use("/genai/*", cors);
  app.route("/genai", genaiApp);

  const admin = new Hono<AppEnv>();
  admin.use("*", adminAuth);
  admin.use("*", authorize);
  admin.route("/keys", keysApp);
  admin.route("/teams", teamsApp);
  admin.route("/usage", usageApp);
  admin.route("/logs", bodiesApp);
  admin.route("/logs", logsApp);
  admin.route("/resources", resourcesApp);
  admin.route("/stats", statsApp);
  admin.route("/tokens", tokensApp);
  admin.route("/audit", auditApp);
  admin.route("/providers", providersApp);
  admin.route("/cache", cacheApp);
  admin.route("/guardrails", guardrailsApp);
  admin.route("/metrics", metricsApp);
  admin.route("/alerts", alertsApp);
  app.route("/admin", admin);

  // /console and /docs are static files (wrangler.toml [assets]) served before the Worker runs.
  app.get("/", (c) => c.json({ name: "edgeway", genai: "/genai/v1beta", console: "/console/", docs: "/docs/" }));
  app.notFound((c) => errorResponse(new GatewayError(404, `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`)));
  app.onError((err) => errorResponse(err));
  return app;
}
