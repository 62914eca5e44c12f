/** The Worker entry point. */
import { buildApp } from "./app";
import type { Env } from "./env";
import { consumeUsage } from "./usage/queue";
import type { CallRecord } from "./usage/record";

export { Governor } from "./governance/governor";
export { UsageBuffer } from "./usage/buffer";

const app = buildApp();

export default {
  fetch: app.fetch,
  // Only called when wrangler.toml opts into the usage queue (README "Usage log").
  queue: (batch, env) => consumeUsage(batch, env),
} satisfies ExportedHandler<Env, CallRecord>;
