/** The alerts' share of the cron (src/index.ts): expiring keys once an hour, then every delivery that is due. */
import type { Env } from "../env";
import { deliverDue } from "./outbox";
import { queueExpiringKeys } from "./expiring";
import { alertSettings } from "./settings";

export async function alertsCron(env: Env, scheduledTime: number): Promise<void> {
  if (!alertSettings(env)) return;
  try {
    // The cron fires every 10 minutes; the key list is read in the first run of each hour.
    if (new Date(scheduledTime).getUTCMinutes() < 10) await queueExpiringKeys(env, scheduledTime);
    await deliverDue(env);
  } catch (e) {
    console.error(`alerts cron: ${String(e)}`);
  }
}
