/**
 * GET /admin/alerts: recent alert deliveries, newest first, with their state (pending, delivered, failed), attempts
 * and the receiver's last answer. POST /admin/alerts/deliver: deliver what is due now (what the cron does).
 */
import { Hono } from "hono";
import { deliverDue, recentAlerts } from "../../alerts/outbox";
import type { AppEnv } from "../../env";
import { pageLimit } from "./json";

export const alertsApp = new Hono<AppEnv>();

alertsApp.get("/", async (c) => c.json({ alerts: await recentAlerts(c.env.DB, pageLimit(c.req.query("limit"), 50, 500)) }));

alertsApp.post("/deliver", async (c) => c.json(await deliverDue(c.env)));
