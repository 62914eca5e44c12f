/**
 * The Worker entry point: the HTTP app, and the scheduled work (cron, wrangler.toml): the sweep of batches and
 * operations, and the usage log's compaction.
 */
import { buildApp } from "./app";
import type { Env } from "./env";
import { sweepResources } from "./resources/sweep";
import { compactUsage } from "./usage/compact";
import { describeError } from "./usage/log";

export { Governor } from "./governance/governor";
export { EphemeralToken } from "./live/token-store";
export { UsageBuffer } from "./usage/buffer";

const app = buildApp();

export default {
  fetch: app.fetch,
  scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweepResources(env, (p) => ctx.waitUntil(p)));
    ctx.waitUntil(compactUsage(env).catch((e) => console.error(`usage compaction: ${describeError(e)}`)));
  },
} satisfies ExportedHandler<Env>;
