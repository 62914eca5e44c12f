/**
 * GET /admin/metrics: Prometheus text format (src/observe/metrics.ts). Any admin token but a team admin's reads it
 * (a viewer included): it names every key and team.
 */
import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { GatewayError } from "../../gemini/errors";
import { describeError } from "../../lib/describe-error";
import { CONTENT_TYPE, metricsText } from "../../observe/metrics";

export const metricsApp = new Hono<AppEnv>();

metricsApp.get("/", async (c) => {
  let text: string;
  try {
    text = await metricsText(c.env.DB);
  } catch (e) {
    console.error(`/admin/metrics: D1 unreadable: ${describeError(e)}`);
    // A failed scrape (Prometheus marks `up` 0) rather than a partial one that would look like a counter reset.
    throw new GatewayError(503, "the usage rollups (D1) are not answering; try again later");
  }
  return c.body(text, 200, { "content-type": CONTENT_TYPE, "cache-control": "no-store" });
});
