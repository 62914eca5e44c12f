/** Running a call's policies over one text, and the tally of what they did (the row's `guardrails`, the header). */
import type { GuardrailRecord } from "../usage/row";
import type { Match } from "./pii";
import { mergeMatches, placeholder, type Policy, type PolicyAction, type Stage } from "./policy";

/** One policy's actions at one stage of a call, as the usage row lists them: never the matched text. */
export type GuardrailAction = GuardrailRecord;

const STRENGTH: Record<PolicyAction, number> = { flag: 0, redact: 1, block: 2 };

export class Tally {
  private readonly acted = new Map<string, GuardrailAction>();
  private readonly costs = new Map<string, number>();
  private readonly actions = new Map<string, PolicyAction>();

  add(policy: Policy, stage: Stage, entity: string, n = 1, action: PolicyAction = policy.action): void {
    const a = this.entry(policy, stage, action);
    a.entities[entity] = (a.entities[entity] ?? 0) + n;
  }

  /** A judge's cost, on its policy's entry for the stage (kept apart from what acted when nothing did). */
  cost(policy: Policy, stage: Stage, usd: number): void {
    this.actions.set(policy.name, policy.action);
    if (usd > 0) this.costs.set(`${policy.name}\n${stage}`, (this.costs.get(`${policy.name}\n${stage}`) ?? 0) + usd);
  }

  private entry(policy: Policy, stage: Stage, action: PolicyAction): GuardrailAction {
    const id = `${policy.name}\n${stage}`;
    let a = this.acted.get(id);
    if (!a) this.acted.set(id, (a = { policy: policy.name, stage, action, entities: {} }));
    return a;
  }

  get size(): number {
    return this.acted.size;
  }

  /** The row's `guardrails`: what acted, and what a judge cost (an entry with no entities when it found nothing). */
  list(): GuardrailAction[] {
    const out = [...this.acted.values()].map((a) => {
      const usd = this.costs.get(`${a.policy}\n${a.stage}`);
      return usd ? { ...a, cost_usd: usd } : a;
    });
    for (const [id, usd] of this.costs) {
      if (this.acted.has(id)) continue;
      // A judge that found nothing: no entity, so it counts as no action; only its cost is on the row.
      const [policy, stage] = id.split("\n") as [string, Stage];
      out.push({ policy, stage, action: this.actions.get(policy)!, entities: {}, cost_usd: usd });
    }
    return out;
  }

  /** What the judges cost, in all. */
  get usd(): number {
    let sum = 0;
    for (const usd of this.costs.values()) sum += usd;
    return sum;
  }

  /** Whether there is anything for the row. */
  get any(): boolean {
    return this.acted.size > 0 || this.costs.size > 0;
  }

  /** `x-edgeway-guardrails`: each policy that acted, with its action (the strongest, over both stages). */
  header(): string {
    const by = new Map<string, PolicyAction>();
    for (const a of this.acted.values()) {
      const had = by.get(a.policy);
      if (!had || STRENGTH[a.action] > STRENGTH[had]) by.set(a.policy, a.action);
    }
    return [...by].map(([p, a]) => `${p}=${a}`).join(", ");
  }
}

export interface Hit extends Match {
  policy: Policy;
}

/** Every match of the blocking policies, first the first blocking policy that found any; else undefined. */
export function blockingHits(text: string, policies: readonly Policy[]): Hit[] | undefined {
  for (const p of policies) {
    if (p.action !== "block") continue;
    const found = p.scan(text);
    if (found.length) return found.map((m) => ({ ...m, policy: p }));
  }
  return undefined;
}

/**
 * The redacting policies' matches (merged: in order, not overlapping), then the flagging policies' (merged apart:
 * a flag changes no text, so it neither stops a redaction of the same text nor is hidden by one).
 */
export function otherHits(text: string, policies: readonly Policy[]): Hit[] {
  const redact: Hit[][] = [];
  const flag: Hit[][] = [];
  for (const p of policies) {
    if (p.action === "block") continue;
    const found = p.scan(text);
    if (found.length) (p.action === "redact" ? redact : flag).push(found.map((m) => ({ ...m, policy: p })));
  }
  const r = mergeMatches(redact);
  return flag.length ? [...r, ...mergeMatches(flag)] : r;
}

/** `text` with each redacting hit replaced by its placeholder. */
export function applyRedactions(text: string, hits: readonly Hit[]): string {
  let out = "";
  let at = 0;
  for (const h of hits) {
    if (h.policy.action !== "redact") continue;
    out += text.slice(at, h.start) + placeholder(h.entity);
    at = h.end;
  }
  return at ? out + text.slice(at) : text;
}

/** The outcome of checking one whole text: the text to use instead, or the policy that blocks it. */
export type Checked = { text: string; blocked?: undefined } | { blocked: Policy; text?: undefined };

/** One whole text (a prompt's part, a JSON answer's part) through the policies of a stage, tallied. */
export function checkText(text: string, policies: readonly Policy[], stage: Stage, tally: Tally): Checked {
  const block = blockingHits(text, policies);
  if (block) {
    for (const h of block) tally.add(h.policy, stage, h.entity);
    return { blocked: block[0]!.policy };
  }
  const hits = otherHits(text, policies);
  if (!hits.length) return { text };
  for (const h of hits) tally.add(h.policy, stage, h.entity);
  return { text: applyRedactions(text, hits) };
}

/** Every string in a JSON value (function-call arguments, a function's response) mapped; the same value when none changed. */
export function mapStrings(v: unknown, fn: (s: string) => string, depth = 0): unknown {
  if (typeof v === "string") return fn(v);
  if (!v || typeof v !== "object" || depth > 64) return v;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    v.forEach((x, i) => {
      const y = mapStrings(x, fn, depth + 1);
      if (y !== x) (copy ??= [...v])[i] = y;
    });
    return copy ?? v;
  }
  let copy: Record<string, unknown> | undefined;
  for (const [k, x] of Object.entries(v)) {
    const y = mapStrings(x, fn, depth + 1);
    if (y !== x) (copy ??= { ...(v as Record<string, unknown>) })[k] = y;
  }
  return copy ?? v;
}
