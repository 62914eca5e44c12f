/** The Worker entry point. */
import { buildApp } from "./app";
import type { Env } from "./env";

export { Governor } from "./governance/governor";
export { EphemeralToken } from "./live/token-store";
export { UsageBuffer } from "./usage/buffer";

const app = buildApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
