/**
 * The governor's time source. Tests move it (`vi.spyOn(clock, "now")`) to cross rate windows, budget periods and
 * expiry without sleeping; the Durable Object reads it on every decision.
 */
export const clock = { now: (): number => Date.now() };
