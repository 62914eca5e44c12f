/**
 * Budget use per key and team, read from the usage log over each budget's current period: the same UTC calendar
 * periods, and the same `cost_usd` figures, that the gateway's budgets count (src/governance/policy.ts).
 */
import { periodEnd, periodStart } from "../../src/governance/policy";
import type { Admin, KeyRecord, TeamRecord } from "./api";

type Period = "1h" | "1d" | "1w" | "1mo" | null | undefined;

export interface BudgetUse {
  subject: "key" | "team";
  id: string;
  name: string;
  max_usd: number;
  period: Period;
  spent: number;
  /** When the period ends (null for a lifetime budget). */
  resets: number | null;
}

export const PERIOD_LABEL: Record<string, string> = { "1h": "per hour", "1d": "per day", "1w": "per week", "1mo": "per month", lifetime: "lifetime" };
export const periodLabel = (p: Period) => PERIOD_LABEL[p ?? "lifetime"]!;

export async function budgetUse(admin: Admin, keys: KeyRecord[], teams: TeamRecord[], now = Date.now()): Promise<BudgetUse[]> {
  const subjects = [
    ...keys.filter((k) => k.budget && !k.revoked_at).map((k) => ({ subject: "key" as const, id: k.id, name: k.name, budget: k.budget! })),
    ...teams.filter((t) => t.budget).map((t) => ({ subject: "team" as const, id: t.id, name: t.name, budget: t.budget! })),
  ];
  // One grouped read per (subject kind, period) in use, not one per key.
  const reads = new Map<string, Promise<Map<string, number>>>();
  const spentIn = (subject: "key" | "team", period: Period) => {
    const id = `${subject}:${period ?? "lifetime"}`;
    let r = reads.get(id);
    if (!r) {
      const from = period ? periodStart(period, now) : undefined;
      r = admin
        .usage({ group_by: subject, from })
        .then((u) => new Map((u.groups ?? []).map((g) => [String(subject === "key" ? g.key_id : g.team_id), g.cost_usd])));
      reads.set(id, r);
    }
    return r;
  };
  return Promise.all(
    subjects.map(async (s) => ({
      subject: s.subject,
      id: s.id,
      name: s.name,
      max_usd: s.budget.max_usd,
      period: s.budget.period,
      spent: (await spentIn(s.subject, s.budget.period)).get(s.id) ?? 0,
      resets: s.budget.period ? (periodEnd(s.budget.period, now) ?? null) : null,
    })),
  );
}
