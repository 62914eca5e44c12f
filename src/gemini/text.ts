/** Plain-text views of Gemini contents, shared by providers that estimate or flatten text. */
import type { Content, CountTokensRequest, GenerateContentRequest } from "./schema";

/** A rough, stable estimate: about four characters a token, as Gemini documents for English. */
export const estimateTokens = (text: string) => (text ? Math.ceil(text.length / 4) : 0);

export function contentsText(contents: readonly Content[] | undefined): string {
  let out = "";
  for (const c of contents ?? []) for (const p of c.parts) if (typeof p.text === "string") out += p.text;
  return out;
}

/** `systemInstruction` may be a Content or (as the SDKs also send) a bare string. */
export function systemText(si: GenerateContentRequest["systemInstruction"]): string {
  if (si === undefined) return "";
  if (typeof si === "string") return si;
  return si.parts.filter((p) => typeof p.text === "string" && !p.thought).map((p) => p.text).join("\n");
}

/**
 * countTokens where the provider has no count endpoint: an estimate (about four characters a token) over texts,
 * function calls and results, and tool declarations, flagged `estimated: true`.
 */
export function estimateCount(body: CountTokensRequest): { totalTokens: number; estimated: true } {
  const g = body.generateContentRequest as (GenerateContentRequest & Record<string, unknown>) | undefined;
  const contents = body.contents ?? g?.contents ?? [];
  let text = contentsText(contents) + systemText(g?.systemInstruction);
  // Function calls, results and declarations cost tokens too: count their JSON.
  for (const c of contents) for (const p of c.parts) if (p.functionCall || p.functionResponse) text += JSON.stringify(p.functionCall ?? p.functionResponse);
  if (g?.tools) text += JSON.stringify(g.tools);
  return { totalTokens: estimateTokens(text), estimated: true };
}
