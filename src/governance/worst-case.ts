/**
 * The most a call can use, reserved at admission: its input (estimated here, before any provider counts it) plus
 * its output cap (`maxOutputTokens`, else the model's own output limit), at the dearest of its targets' prices.
 * The error of this estimate is the only way spend can pass a budget (README, "Governance").
 */
import type { Config } from "../config";
import { GatewayError } from "../gemini/errors";
import type { Action, Content, Part, RequestBody } from "../gemini/schema";
import { estimateTokens, systemText } from "../gemini/text";
import type { Target } from "../plan/target";

/** Output cap of a model the catalog does not know (the largest any shipped model allows). */
export const DEFAULT_OUTPUT_CAP = 65_536;
/** A media part (image, audio, video, document): Gemini's smallest charge plus a token per 64 bytes. */
const MEDIA_BASE_TOKENS = 258;
const MEDIA_BYTES_PER_TOKEN = 64;
/** A file referenced by URI, whose size the gateway does not see. */
const FILE_TOKENS = 1_000;

export interface WorstCase {
  tokens: number;
  usd: number;
  /** Input tokens as estimated (also what an aborted call is charged when the provider never said). */
  inputTokens: number;
}

export function worstCase(config: Config, action: Action, body: RequestBody, targets: readonly Target[]): WorstCase {
  const input = estimateInput(action, body);
  let tokens = 0;
  let usd = 0;
  for (const t of targets) {
    const output = outputCap(config, action, body, t);
    const price = config.price(t.provider, t.model);
    tokens = Math.max(tokens, input + output);
    if (price) usd = Math.max(usd, (input * price.input + output * price.output) / 1e6);
  }
  return { tokens, usd, inputTokens: input };
}

/** The targets a budget may not pay for: models without a price. */
export function unpriced(config: Config, targets: readonly Target[]): Target[] {
  return targets.filter((t) => !config.price(t.provider, t.model));
}

/** The 403 for an unpriced model under a budget (a Live session's model too). */
export function unpricedRefusal(name: string): GatewayError {
  return new GatewayError(
    403,
    `model "${name}" has no price, and this key or its team has a budget: only priced models may be called. ` +
      `Price it in PRICES (USD per 1M tokens), e.g. {"${name}": {"input": 1.25, "output": 10}}`,
  );
}

function outputCap(config: Config, action: Action, body: RequestBody, t: Target): number {
  if (action !== "generateContent" && action !== "streamGenerateContent") return 0;
  const g = (body as { generationConfig?: { maxOutputTokens?: number; candidateCount?: number; thinkingConfig?: { thinkingBudget?: number } } }).generationConfig;
  const model = config.providers.get(t.provider)?.models.find((m) => t.model === m.id || t.model.startsWith(`${m.id}-`));
  const cap = g?.maxOutputTokens && g.maxOutputTokens > 0 ? g.maxOutputTokens : (model?.outputTokenLimit ?? DEFAULT_OUTPUT_CAP);
  // A thinking budget may come on top of the visible output, depending on the provider.
  const thinking = Math.max(0, g?.thinkingConfig?.thinkingBudget ?? 0);
  return (cap + thinking) * Math.max(1, g?.candidateCount ?? 1);
}

export function estimateInput(action: Action, body: RequestBody): number {
  const b = body as Record<string, unknown> & { contents?: Content[]; systemInstruction?: Content | string };
  switch (action) {
    case "embedContent":
      return contentsTokens([b.content as Content]);
    case "batchEmbedContents":
      return (b.requests as { content: Content }[]).reduce((n, r) => n + contentsTokens([r.content]), 0);
    case "predict":
      return estimateTokens((b.instances as { prompt?: string }[]).map((i) => i.prompt ?? "").join(" "));
    case "countTokens": {
      const g = b.generateContentRequest as typeof b | undefined;
      return contentsTokens(b.contents ?? g?.contents);
    }
    default: {
      let n = contentsTokens(b.contents) + estimateTokens(systemText(b.systemInstruction as never));
      if (b.tools) n += estimateTokens(JSON.stringify(b.tools));
      return n;
    }
  }
}

function contentsTokens(contents: readonly Content[] | undefined): number {
  let chars = 0;
  let media = 0;
  for (const c of contents ?? []) for (const p of c.parts) media += partTokens(p, (n) => (chars += n));
  return Math.ceil(chars / 4) + media;
}

function partTokens(p: Part, text: (chars: number) => void): number {
  if (typeof p.text === "string") text(p.text.length);
  if (p.functionCall) text(JSON.stringify(p.functionCall).length);
  if (p.functionResponse) text(JSON.stringify(p.functionResponse).length);
  if (p.inlineData) return MEDIA_BASE_TOKENS + Math.ceil((p.inlineData.data.length * 3) / 4 / MEDIA_BYTES_PER_TOKEN);
  if (p.fileData) return MEDIA_BASE_TOKENS + FILE_TOKENS;
  return 0;
}
