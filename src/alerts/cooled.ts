/**
 * `credential.cooled`: a pool credential the upstream refused or throttled. The pools call the listener this
 * makes (set once per isolate by src/config.ts when alerts are on) when a credential starts a cool-down; the event
 * is written and sent after the call's response, under the request's waitUntil.
 */
import type { Env } from "../env";
import { credentialCooled } from "./events";
import { raise } from "./outbox";

export type CooledEvent = { provider: string; label: string; fault: "credential" | "model"; model: string; until: number };

/** Work in flight (tests wait for it). */
const inFlight = new Set<Promise<void>>();
export const cooledAlertsSettled = () => Promise.all([...inFlight]);

export function cooledListener(env: Env): (e: CooledEvent) => void {
  return (e) => {
    const p = raise(env, [credentialCooled(e)]).finally(() => inFlight.delete(p));
    inFlight.add(p);
    // Imported when a credential cools (rare), not with the module: src/config.ts imports this one, and Node
    // (the e2e tests, the scripts) has no `cloudflare:workers`.
    import("cloudflare:workers")
      .then(({ waitUntil }) => waitUntil(p))
      // Outside a request (a test calling directly): the promise runs on its own.
      .catch(() => {});
  };
}
