/** The alert events edgeway raises (README, "Alerts"), each with the seed that makes its id stable. */
import type { AlertDraft } from "./outbox";

const money = (n: number) => Math.round(n * 1e6) / 1e6;

/**
 * The budget thresholds (percent, ascending) that spending from `before` to `after` USD crossed, as one event each
 * in ascending order. A threshold is crossed once per subject and budget period (`periodStart`, ms; 0 = lifetime):
 * its seed names them, so the same crossing written twice is one event.
 */
export function budgetCrossings(
  subject: { kind: "key" | "team"; id: string; name: string },
  budget: { max_usd: number; period?: string | null },
  periodStart: number,
  before: number,
  after: number,
  thresholds: readonly number[],
  now = Date.now(),
): AlertDraft[] {
  if (!(budget.max_usd > 0) || !(after > before)) return [];
  const period = budget.period ?? "lifetime";
  return thresholds
    .filter((p) => before < (budget.max_usd * p) / 100 && after >= (budget.max_usd * p) / 100)
    .map((p) => ({
      seed: `budget.threshold\n${subject.kind}\n${subject.id}\n${period}\n${periodStart}\n${p}`,
      type: "budget.threshold",
      at: new Date(now).toISOString(),
      subject,
      data: {
        threshold_percent: p, period, period_start: periodStart ? new Date(periodStart).toISOString() : null,
        budget_usd: budget.max_usd, spent_usd: money(after),
      },
    }));
}

/** A key expiring within the week: once per key and expiry time. */
export function keyExpiring(key: { id: string; name: string; expires_at: string }, now = Date.now()): AlertDraft {
  return {
    seed: `key.expiring\n${key.id}\n${key.expires_at}`,
    type: "key.expiring",
    at: new Date(now).toISOString(),
    subject: { kind: "key", id: key.id, name: key.name },
    data: { expires_at: key.expires_at, expires_in_hours: Math.max(0, Math.round((Date.parse(key.expires_at) - now) / 3_600_000)) },
  };
}

/**
 * A pool credential the upstream refused (`credential`: every model) or throttled (`model`): once per credential,
 * scope and UTC hour, whichever isolate saw it first.
 */
export function credentialCooled(
  c: { provider: string; label: string; fault: "credential" | "model"; model: string; until: number },
  now = Date.now(),
): AlertDraft {
  const scope = c.fault === "credential" ? "*" : c.model;
  return {
    seed: `credential.cooled\n${c.provider}\n${c.label}\n${scope}\n${Math.floor(now / 3_600_000)}`,
    type: "credential.cooled",
    at: new Date(now).toISOString(),
    subject: { kind: "credential", id: `${c.provider}/${c.label}`, name: c.label },
    data: {
      provider: c.provider, credential: c.label, reason: c.fault === "credential" ? "refused" : "throttled",
      model: c.fault === "model" ? c.model : null, until: new Date(c.until).toISOString(),
    },
  };
}
