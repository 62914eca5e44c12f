/**
 * `GUARDRAILS`: named policies, parsed and compiled once per isolate (with the config). A value that does not parse
 * is kept as its error, never dropped: every call of a key or team that names a policy then answers 503, and the
 * admin API shows the error (`GET /admin/guardrails`, and a 400 on a key or team write naming a policy).
 */
import * as z from "zod/mini";
import { describeIssues } from "../gemini/schema";
import { normalize } from "./normalize";
import { PII_ENTITIES, scanPii, type Match, type PiiEntity } from "./pii";
import { compileRegex, type Regex } from "./regex";
import { DEFAULT_JUDGE_TIMEOUT_MS } from "./judge";

const Stage = z.enum(["input", "output", "both"]);
const Action = z.enum(["block", "redact", "flag"]);
const common = { on: Stage, action: Action };

const PolicySchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("pii"), ...common, entities: z.optional(z.array(z.enum(PII_ENTITIES)).check(z.minLength(1))) }),
  z.strictObject({ kind: z.literal("regex"), ...common, patterns: z.array(z.string().check(z.minLength(1), z.maxLength(1000))).check(z.minLength(1), z.maxLength(100)) }),
  z.strictObject({
    kind: z.literal("model"), ...common,
    model: z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]*\/.+$/, "expected provider/model")),
    timeout_ms: z.optional(z.int().check(z.positive())),
    on_error: z.optional(z.enum(["allow", "block"])),
  }),
]);
const PoliciesSchema = z.record(z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, "a policy name is 1-64 letters, digits, _ . -")), PolicySchema);
export type PolicySpec = z.infer<typeof PolicySchema>;

export type Stage = "input" | "output";
export type PolicyAction = "block" | "redact" | "flag";

/** A policy ready to run: its spec, and how it finds matches in a text. */
export interface Policy {
  name: string;
  spec: PolicySpec;
  action: PolicyAction;
  input: boolean;
  output: boolean;
  /** Matches in `text` (offsets of `text`), in order and not overlapping. */
  scan(text: string): Match[];
  /** A `model` policy's judge: its `provider/model`, time limit and what an error decides. */
  judge?: { model: string; timeoutMs: number; onError: "allow" | "block" };
  /** What a block answers with: `promptFeedback.blockReason` on input, `finishReason` on output. */
  blockReason: string;
  finishReason: string;
}

export interface Guardrails {
  policies: ReadonlyMap<string, Policy>;
  /** Why `GUARDRAILS` does not parse: set, every policy is unusable. */
  error?: string;
  /** Policies that parse but cannot run (a judge on a provider the gateway does not have): their calls answer 503 with this. */
  unusable: ReadonlyMap<string, string>;
}

/** `GUARDRAILS` as policies; undefined when unset or empty (guardrails off: no hook, nothing per call). */
export function parseGuardrails(raw: unknown, providers?: ReadonlySet<string>): Guardrails | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const none = { policies: new Map(), unusable: new Map() };
  let json: unknown = raw;
  if (typeof raw === "string") {
    try {
      json = JSON.parse(raw);
    } catch (e) {
      return { ...none, error: `GUARDRAILS is not valid JSON (${(e as Error).message})` };
    }
  }
  const parsed = PoliciesSchema.safeParse(json);
  if (!parsed.success) return { ...none, error: `GUARDRAILS is invalid: ${describeIssues(parsed.error.issues)}` };
  const policies = new Map<string, Policy>();
  const unusable = new Map<string, string>();
  for (const [name, spec] of Object.entries(parsed.data)) {
    try {
      policies.set(name, compile(name, spec));
    } catch (e) {
      // One bad pattern makes the var invalid: a policy that silently matched less than written would be worse.
      return { ...none, error: `GUARDRAILS policy "${name}": ${(e as Error).message}` };
    }
    const judged = spec.kind === "model" ? spec.model.slice(0, spec.model.indexOf("/")) : undefined;
    if (judged && providers && !providers.has(judged)) unusable.set(name, `guardrail policy "${name}": the judge's provider "${judged}" is not one this gateway serves`);
  }
  return { policies, unusable };
}

function compile(name: string, spec: PolicySpec): Policy {
  const base = {
    name, spec, action: spec.action,
    input: spec.on !== "output",
    output: spec.on !== "input",
  };
  if (spec.kind === "pii") {
    const wanted = new Set<PiiEntity>(spec.entities ?? PII_ENTITIES);
    return { ...base, scan: normalized((t) => scanPii(t, wanted)), blockReason: "BLOCKLIST", finishReason: "SPII" };
  }
  if (spec.kind === "regex") {
    const res: Regex[] = spec.patterns.map((p, i) => {
      try {
        return compileRegex(p);
      } catch (e) {
        throw new Error(`patterns[${i}]: ${(e as Error).message}`);
      }
    });
    return { ...base, scan: normalized((t) => mergeMatches(res.map((r) => r.matches(t)))), blockReason: "BLOCKLIST", finishReason: "BLOCKLIST" };
  }
  return {
    ...base, scan: () => [], blockReason: "PROHIBITED_CONTENT", finishReason: "PROHIBITED_CONTENT",
    judge: { model: spec.model, timeoutMs: spec.timeout_ms ?? DEFAULT_JUDGE_TIMEOUT_MS, onError: spec.on_error ?? "block" },
  };
}

/** A scanner over the normalised text, with its matches mapped back to the original's offsets. */
function normalized(scan: (t: string) => Match[]): (t: string) => Match[] {
  return (text) => {
    const n = normalize(text);
    const found = scan(n.text);
    if (n.text === text) return found;
    return found.map((m) => ({ ...m, start: n.original(m.start), end: n.original(m.end) }));
  };
}

/** Several sorted lists of matches as one, sorted, overlaps dropped (the earlier, else the longer, wins). */
export function mergeMatches<M extends Match>(lists: M[][]): M[] {
  const nonEmpty = lists.filter((l) => l.length);
  if (nonEmpty.length <= 1) return nonEmpty[0] ?? [];
  const all = nonEmpty.flat().sort((a, b) => a.start - b.start || b.end - a.end);
  const out: M[] = [];
  for (const m of all) if (!out.length || m.start >= out[out.length - 1]!.end) out.push(m);
  return out;
}

/** The placeholder a redaction writes for an entity. */
export const placeholder = (entity: string) => (entity === "pattern" ? "[REDACTED]" : `[${entity.toUpperCase()}]`);
