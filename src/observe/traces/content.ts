/**
 * Message content for a span, only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true: the GenAI
 * conventions' `gen_ai.input.messages`, `gen_ai.system_instructions` and `gen_ai.output.messages` (JSON text).
 * Built small and bounded while the call runs (text only: inline data, files and tool payloads are named, never
 * copied); redacted when the span is encoded, after the response.
 */
import type { Content, GenerateContentResponse } from "../../gemini/schema";

/** Characters of text kept per attribute; the rest is cut with a marker. */
export const MAX_CONTENT_CHARS = 16_000;
const CUT = "…[truncated]";

type Part = { type: string; content?: string; mime_type?: string; name?: string };

/** Text gathered under a budget of characters. */
class Budget {
  left = MAX_CONTENT_CHARS;
  take(s: string): string {
    if (s.length <= this.left) {
      this.left -= s.length;
      return s;
    }
    const kept = s.slice(0, Math.max(0, this.left)) + CUT;
    this.left = 0;
    return kept;
  }
}

function partsOf(content: Content | undefined, budget: Budget): Part[] {
  const out: Part[] = [];
  for (const p of (content?.parts ?? []) as Record<string, any>[]) {
    if (budget.left <= 0) break;
    if (typeof p.text === "string") out.push({ type: p.thought ? "reasoning" : "text", content: budget.take(p.text) });
    else if (p.functionCall) out.push({ type: "tool_call", name: String(p.functionCall.name ?? "") });
    else if (p.functionResponse) out.push({ type: "tool_call_response", name: String(p.functionResponse.name ?? "") });
    else if (p.inlineData) out.push({ type: "blob", mime_type: String(p.inlineData.mimeType ?? "") });
    else if (p.fileData) out.push({ type: "uri", mime_type: String(p.fileData.mimeType ?? "") });
  }
  return out;
}

const role = (r: unknown) => (r === "model" ? "assistant" : typeof r === "string" && r ? r : "user");

/** The request's messages and system instruction, as JSON text (not yet redacted). */
export function inputMessages(body: Record<string, unknown>): { messages?: string; system?: string } {
  const budget = new Budget();
  const contents = Array.isArray(body.contents) ? (body.contents as Content[]) : [];
  const messages = contents.map((c) => ({ role: role(c.role), parts: partsOf(c, budget) }));
  const sys = body.systemInstruction as Content | undefined;
  return {
    ...(messages.length ? { messages: JSON.stringify(messages) } : {}),
    ...(sys?.parts ? { system: JSON.stringify(partsOf(sys, new Budget())) } : {}),
  };
}

/** A call's answer as it passes: each candidate's text, gathered across a stream's events (bounded). */
export class AnswerText {
  private readonly text = new Map<number, string>();
  private readonly finish = new Map<number, string>();
  private left = MAX_CONTENT_CHARS;

  add(answer: GenerateContentResponse): void {
    for (const [i, c] of (answer.candidates ?? []).entries()) {
      const index = typeof c.index === "number" ? c.index : i;
      if (c.finishReason) this.finish.set(index, c.finishReason);
      for (const p of (c.content?.parts ?? []) as Record<string, any>[]) {
        if (typeof p.text !== "string" || p.thought || this.left <= 0) continue;
        const piece = p.text.length <= this.left ? p.text : p.text.slice(0, this.left) + CUT;
        this.left -= p.text.length;
        this.text.set(index, (this.text.get(index) ?? "") + piece);
      }
    }
  }

  /** Characters of text held (at most MAX_CONTENT_CHARS plus the cut markers). */
  get chars(): number {
    return MAX_CONTENT_CHARS - Math.max(0, this.left);
  }

  /** `gen_ai.output.messages` as JSON text, or undefined when the answer had no text. */
  json(): string | undefined {
    if (!this.text.size) return undefined;
    return JSON.stringify([...this.text].map(([i, t]) => ({
      role: "assistant",
      parts: [{ type: "text", content: t }],
      ...(this.finish.has(i) ? { finish_reason: this.finish.get(i) } : {}),
    })));
  }
}
