/**
 * The built-in mock upstream: answers every action offline and deterministically, in Gemini's own wire format,
 * so `npm start` works with no key and no network and the mock exercises the same translation path as Gemini.
 */
import type {
  Action,
  BatchEmbedContentsRequest,
  Content,
  CountTokensRequest,
  EmbedContentRequest,
  GenerateContentRequest,
  PredictRequest,
} from "../../gemini/schema";
import { contentsText, estimateTokens } from "../../gemini/text";


function lastUserText(contents: readonly Content[]): string {
  for (let i = contents.length - 1; i >= 0; i--) {
    const t = contentsText([contents[i]!]);
    if (t) return t;
  }
  return "";
}

export function mockReplyText(body: GenerateContentRequest): string {
  return `This is the edgeway mock model. You said: ${lastUserText(body.contents)}`;
}

function usage(body: GenerateContentRequest, reply: string) {
  const sys = typeof body.systemInstruction === "string" ? body.systemInstruction : contentsText(body.systemInstruction ? [body.systemInstruction] : []);
  const promptTokenCount = estimateTokens(sys + contentsText(body.contents));
  const candidatesTokenCount = estimateTokens(reply);
  return { promptTokenCount, candidatesTokenCount, totalTokenCount: promptTokenCount + candidatesTokenCount };
}

/** 32-bit FNV-1a: a stable seed from text. */
function fnv1a(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Deterministic unit-length vector seeded by the text (FNV-1a + xorshift). */
export function mockEmbedding(text: string, dims = 8): number[] {
  let h = fnv1a(text);
  const v: number[] = [];
  for (let i = 0; i < dims; i++) {
    h ^= h << 13; h ^= h >>> 17; h ^= h << 5;
    v.push(((h >>> 0) / 4294967295) * 2 - 1);
  }
  const n = Math.hypot(...v) || 1;
  return v.map((x) => Math.round((x / n) * 1e6) / 1e6);
}

/** A 1×1 PNG, the picture the mock "generates". */
export const MOCK_PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/** Splits a reply into the stream's chunk texts: a word (with its leading space) per chunk. */
export function streamPieces(text: string): string[] {
  return text.match(/\s*\S+/g) ?? [text];
}

export function mockAnswer(action: Action, model: string, body: unknown): unknown {
  switch (action) {
    case "generateContent": {
      const req = body as GenerateContentRequest;
      const text = mockReplyText(req);
      return {
        candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
        usageMetadata: usage(req, text),
        modelVersion: model,
        responseId: `mock-${fnv1a(text).toString(16).padStart(8, "0")}`,
      };
    }
    case "countTokens": {
      const req = body as CountTokensRequest;
      return { totalTokens: estimateTokens(contentsText(req.contents ?? req.generateContentRequest?.contents)) };
    }
    case "embedContent": {
      const req = body as EmbedContentRequest;
      return { embedding: { values: mockEmbedding(contentsText([req.content]), req.outputDimensionality) } };
    }
    case "batchEmbedContents": {
      const req = body as BatchEmbedContentsRequest;
      return {
        embeddings: req.requests.map((r) => ({ values: mockEmbedding(contentsText([r.content]), r.outputDimensionality) })),
      };
    }
    case "predict": {
      const req = body as PredictRequest;
      const n = req.parameters?.sampleCount ?? 1;
      return { predictions: Array.from({ length: n }, () => ({ bytesBase64Encoded: MOCK_PNG_BASE64, mimeType: "image/png" })) };
    }
    case "streamGenerateContent":
      throw new Error("streamed answers are built by mockStream");
  }
}

/** The stream as Gemini frames it: one `data:` event per chunk, `\r\n\r\n` between events. */
export function mockStream(model: string, body: GenerateContentRequest): ReadableStream<Uint8Array> {
  const text = mockReplyText(body);
  const pieces = streamPieces(text);
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      const last = i === pieces.length - 1;
      const chunk: Record<string, unknown> = {
        candidates: [{ content: { role: "model", parts: [{ text: pieces[i] }] }, index: 0, ...(last ? { finishReason: "STOP" } : {}) }],
        modelVersion: model,
      };
      if (last) chunk.usageMetadata = usage(body, text);
      controller.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\r\n\r\n`));
      if (++i === pieces.length) controller.close();
    },
  }, { highWaterMark: 0 });
}
