/** The Worker entry point: the HTTP app, and the scheduled sweep of batches and operations (cron, wrangler.toml). */
import { buildApp } from "./app";
import type { Env } from "./env";
import { sweepResources } from "./resources/sweep";

export { Governor } from "./governance/governor";
export { EphemeralToken } from "./live/token-store";
export { UsageBuffer } from "./usage/buffer";

const app = buildApp();

export default {
  fetch: app.fetch,
  scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweepResources(env, (p) => ctx.waitUntil(p)));
  },
} satisfies ExportedHandler<Env>;
