/** Helpers for governance tests: controllable time (no sleeps), teams, and a peek at a Governor's counters. */
import { env } from "cloudflare:test";
import { vi } from "vitest";
import { clock } from "../../src/governance/clock";
import { reportLeases } from "../../src/governance/lease";
import { admin } from "./worker";

/** Freezes the governor's clock at `start` (default: now); `advance` moves it. Restore with vi.restoreAllMocks(). */
export function freezeClock(start = Date.now()) {
  let t = start;
  vi.spyOn(clock, "now").mockImplementation(() => t);
  return {
    advance: (ms: number) => void (t += ms),
    get now() {
      return t;
    },
  };
}

/** Creates a team through the admin API; returns its record. */
export async function createTeam(fields: Record<string, unknown> = {}): Promise<{ id: string } & Record<string, unknown>> {
  const r = await admin("/teams", { body: { name: "team", ...fields } });
  if (r.status !== 201) throw new Error(`createTeam failed: ${r.status} ${await r.text()}`);
  return r.json();
}

/**
 * The counters of a key's or team's Governor (requests and tokens in the last minute, spend), after this isolate
 * reported what its leases used (as it does whenever it renews them).
 */
export async function counters(subject: "key" | "team", id: string) {
  await reportLeases(env);
  return env.GOVERNOR.get(env.GOVERNOR.idFromName(`${subject}:${id}`)).snapshot();
}
