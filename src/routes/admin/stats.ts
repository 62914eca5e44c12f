/**
 * /admin/stats: what the isolate answering has counted since it started — governed calls, its round trips to
 * Governors (those a call waited for, and all), its hand-offs to the usage buffer and its batches written straight
 * to D1 (neither ever waited for by a call). The
 * benchmark reads it; an operator can too (one isolate's view).
 */
import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { leaseStats } from "../../governance/lease";
import { sinkStats } from "../../usage/sink";

export const statsApp = new Hono<AppEnv>();

statsApp.get("/", (c) =>
  c.json({
    isolate: {
      calls: leaseStats.calls,
      governor_requests: leaseStats.requests,
      governor_blocking: leaseStats.blocking,
      usage_handoffs: sinkStats.handoffs,
      usage_direct_writes: sinkStats.direct,
    },
  }),
);
