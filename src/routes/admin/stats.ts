/**
 * /admin/stats: what the isolate answering has counted since it started — governed calls and its round trips to
 * Governors (those a call waited for, and all). The benchmark reads it; an operator can too (one isolate's view).
 */
import { Hono } from "hono";
import type { AppEnv } from "../../env";
import { leaseStats } from "../../governance/lease";

export const statsApp = new Hono<AppEnv>();

statsApp.get("/", (c) =>
  c.json({ isolate: { calls: leaseStats.calls, governor_requests: leaseStats.requests, governor_blocking: leaseStats.blocking } }),
);
