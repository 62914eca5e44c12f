/**
 * A Live session's tokens from the `usageMetadata` the server sends. Gemini reports usage per turn (each turn's
 * prompt count re-reads the conversation so far, and is billed again), so the session's usage is the sum over its
 * turns. Within one turn a later report replaces an earlier one (a snapshot, never a delta): a report counts once a
 * turn boundary (`turnComplete` or `interrupted`) has passed and the next report arrives, or at the end. Each turn is
 * a call as Gemini bills it: its own prompt picks its price tier, so turns are kept by the tier they reached.
 */
import { added, byModality, costOf, EMPTY_BILLABLE, tierAt, total, withRest, type Billable, type Cost } from "../usage/cost";
import type { Price } from "../usage/prices";
import type { ModalityTokens } from "../usage/row";

/** The Live `usageMetadata` fields edgeway reads (Gemini sends more). */
export interface LiveUsageMetadata {
  promptTokenCount?: number;
  cachedContentTokenCount?: number;
  responseTokenCount?: number;
  /** Vertex spells the response count like generateContent does. */
  candidatesTokenCount?: number;
  toolUsePromptTokenCount?: number;
  thoughtsTokenCount?: number;
  promptTokensDetails?: ModalityCount[];
  cacheTokensDetails?: ModalityCount[];
  responseTokensDetails?: ModalityCount[];
  candidatesTokensDetails?: ModalityCount[];
  toolUsePromptTokensDetails?: ModalityCount[];
}

type ModalityCount = { modality?: string; tokenCount?: number };

export interface LiveTokens {
  prompt: number;
  response: number;
  cached: number;
  toolUse: number;
  thoughts: number;
  modalities: Required<ModalityTokens>;
}

/** What one server message says about usage and turns (the parts of it edgeway reads). */
export interface ServerMessageUsage {
  usageMetadata?: LiveUsageMetadata;
  serverContent?: { turnComplete?: boolean; interrupted?: boolean };
}

/** Bounds on what an upstream can make the row carry. */
const MAX_COUNT = 1e12;

export class LiveUsage {
  /** The turns counted, by the price tier each reached (`above` of the tier, or null): a few groups at most. */
  private counted = new Map<number | null, LiveTokens>();
  private turn: LiveTokens | undefined;
  private boundary = false;
  /** The session's price, once its setup named the model: it says which tier a turn's prompt reaches. */
  price: Price | undefined;

  /** Takes in one server message. Returns true when it carried usage. */
  observe(msg: ServerMessageUsage): boolean {
    const u = msg.usageMetadata;
    let reported = false;
    if (u && typeof u === "object") {
      if (this.boundary && this.turn) this.count(this.counted, this.turn);
      if (this.boundary) this.boundary = false;
      this.turn = snapshot(u);
      reported = true;
    }
    const sc = msg.serverContent;
    if (sc && (sc.turnComplete === true || sc.interrupted === true)) this.boundary = true;
    return reported;
  }

  /** The session's tokens so far: the turns counted plus the latest report of the turn in progress. */
  total(): LiveTokens {
    const t = empty();
    for (const g of this.groups().values()) add(t, g);
    return t;
  }

  /** The session's tokens so far by the tier their turns reached. */
  groups(): Map<number | null, LiveTokens> {
    const out = new Map<number | null, LiveTokens>();
    for (const [tier, g] of this.counted) out.set(tier, clone(g));
    if (this.turn) this.count(out, this.turn);
    return out;
  }

  private count(into: Map<number | null, LiveTokens>, turn: LiveTokens): void {
    const tier = this.price ? tierAt(this.price, total(liveBillable(turn).prompt)).tier : null;
    let g = into.get(tier);
    if (!g) into.set(tier, (g = empty()));
    add(g, turn);
  }
}

/** Tokens as Gemini reports them for one call: the row counts input = prompt + tool use, output = response + thoughts. */
export function rowUsage(t: LiveTokens) {
  return {
    promptTokenCount: t.prompt,
    toolUsePromptTokenCount: t.toolUse,
    candidatesTokenCount: t.response,
    thoughtsTokenCount: t.thoughts,
    cachedContentTokenCount: t.cached,
    totalTokenCount: t.prompt + t.toolUse + t.response + t.thoughts,
  };
}

/**
 * A session's billable usage: each count by the modality Gemini reported (audio and video input at their own prices,
 * audio output at `output_audio`), what the details leave out of a count as text. Priced by src/usage/cost.ts.
 */
export function liveBillable(t: LiveTokens): Billable {
  const m = t.modalities;
  const prompt = withRest(m.input, t.prompt);
  let cached = withRest(m.cached, t.cached);
  if (total(cached) > total(prompt)) cached = { TEXT: total(prompt) };
  return {
    ...EMPTY_BILLABLE,
    prompt,
    cached,
    tool_use: withRest(m.tool_use, t.toolUse),
    thinking: t.thoughts,
    output: withRest(m.output, t.response),
  };
}

/** A session's cost so far: each group of turns at the prices of the tier its turns reached, added up. */
export function liveCost(price: Price | undefined, u: LiveUsage): Cost {
  let c = costOf(price, EMPTY_BILLABLE);
  for (const [tier, g] of u.groups()) c = added(c, { ...costOf(price && atTier(price, tier), liveBillable(g)), tier });
  return c;
}

/** `price` fixed at one tier (`above`, or null for below every tier): its turns were each priced there. */
function atTier(price: Price, tier: number | null): Price {
  return tier === null ? { ...price, tiers: undefined } : tierAt(price, tier + 1).price;
}

/** The row's `modality_tokens`, without empty groups. */
export function modalityTokens(t: LiveTokens): ModalityTokens {
  const out: ModalityTokens = {};
  for (const [k, v] of Object.entries(t.modalities) as [keyof ModalityTokens, Record<string, number>][]) {
    if (Object.keys(v).length) out[k] = v;
  }
  return out;
}

function snapshot(u: LiveUsageMetadata): LiveTokens {
  return {
    prompt: count(u.promptTokenCount),
    response: count(u.responseTokenCount ?? u.candidatesTokenCount),
    cached: count(u.cachedContentTokenCount),
    toolUse: count(u.toolUsePromptTokenCount),
    thoughts: count(u.thoughtsTokenCount),
    modalities: {
      input: byModality(u.promptTokensDetails),
      output: byModality(u.responseTokensDetails ?? u.candidatesTokensDetails),
      cached: byModality(u.cacheTokensDetails),
      tool_use: byModality(u.toolUsePromptTokensDetails),
    },
  };
}

const count = (n: unknown) => (typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.min(Math.floor(n), MAX_COUNT) : 0);

function empty(): LiveTokens {
  return { prompt: 0, response: 0, cached: 0, toolUse: 0, thoughts: 0, modalities: { input: {}, output: {}, cached: {}, tool_use: {} } };
}

function clone(t: LiveTokens): LiveTokens {
  const c = empty();
  add(c, t);
  return c;
}

function add(into: LiveTokens, t: LiveTokens): void {
  into.prompt += t.prompt;
  into.response += t.response;
  into.cached += t.cached;
  into.toolUse += t.toolUse;
  into.thoughts += t.thoughts;
  for (const k of Object.keys(t.modalities) as (keyof LiveTokens["modalities"])[]) {
    for (const [m, n] of Object.entries(t.modalities[k])) into.modalities[k][m] = (into.modalities[k][m] ?? 0) + n;
  }
}
