/** The Hono app: inference routes under /genai, the admin API under /admin, Gemini-style errors everywhere. */
import { Hono } from "hono";
import type { AppEnv } from "./env";
import { errorResponse, GatewayError } from "./gemini/errors";
import { adminAuth } from "./routes/admin/auth";
import { keysApp } from "./routes/admin/keys";
import { resourcesApp } from "./routes/admin/resources";
import { statsApp } from "./routes/admin/stats";
import { teamsApp } from "./routes/admin/teams";
import { logsApp, usageApp } from "./routes/admin/usage";
import { genaiApp } from "./routes/genai";

export function buildApp() {
  const app = new Hono<AppEnv>();
  app.route("/genai", genaiApp);

  const admin = new Hono<AppEnv>();
  admin.use("*", adminAuth);
  admin.route("/keys", keysApp);
  admin.route("/teams", teamsApp);
  admin.route("/usage", usageApp);
  admin.route("/logs", logsApp);
  admin.route("/resources", resourcesApp);
  admin.route("/stats", statsApp);
  app.route("/admin", admin);

  // /console and /docs are static files (wrangler.toml [assets]) served before the Worker runs.
  app.get("/", (c) => c.json({ name: "edgeway", genai: "/genai/v1beta", console: "/console/", docs: "/docs/" }));
  app.notFound((c) => errorResponse(new GatewayError(404, `no route for ${c.req.method} ${new URL(c.req.url).pathname.slice(0, 200)}`)));
  app.onError((err) => errorResponse(err));
  return app;
}
