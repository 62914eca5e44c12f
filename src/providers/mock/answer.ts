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

/**
 * What the mock gives at most, as a real provider would (Imagen's 4 images, gemini-embedding's 3072 dimensions and
 * 100 requests a batch, an 8192-token reply): it costs nothing, so it must not be a way to make the gateway work
 * without bound. Out-of-range values get Gemini's 400.
 */
export const MOCK_LIMITS = {
  sampleCount: 4,
  dimensions: 3072,
  batchRequests: 100,
  outputTokens: 8192,
  /** A long streamed reply is sent in at most this many chunks (several words each). */
  streamChunks: 256,
} as const;

/** A request the mock refuses, answered as Gemini's 400 INVALID_ARGUMENT. */
export class MockRefusal extends Error {}

function inRange(name: string, v: number | undefined, max: number): void {
  if (v !== undefined && !(v >= 1 && v <= max)) throw new MockRefusal(`${name} must be between 1 and ${max} (got ${v})`);
}

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

/** The reply as sent: cut at `maxOutputTokens` (at most the model's limit), about four characters a token. */
function reply(body: GenerateContentRequest): { text: string; finishReason: "STOP" | "MAX_TOKENS" } {
  const max = body.generationConfig?.maxOutputTokens;
  inRange("maxOutputTokens", max, MOCK_LIMITS.outputTokens);
  const chars = (max ?? MOCK_LIMITS.outputTokens) * 4;
  const text = mockReplyText(body);
  return text.length > chars ? { text: text.slice(0, chars), finishReason: "MAX_TOKENS" } : { text, finishReason: "STOP" };
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
  inRange("outputDimensionality", dims, MOCK_LIMITS.dimensions);
  let h = fnv1a(text);
  const v: number[] = [];
  for (let i = 0; i < dims; i++) {
    h ^= h << 13; h ^= h >>> 17; h ^= h << 5;
    v.push(((h >>> 0) / 4294967295) * 2 - 1);
  }
  // A loop, not Math.hypot(...v): spreading a large array as arguments overflows the stack.
  let sum = 0;
  for (const x of v) sum += x * x;
  const n = Math.sqrt(sum) || 1;
  return v.map((x) => Math.round((x / n) * 1e6) / 1e6);
}

/** A 1×1 PNG, the picture the mock "generates". */
export const MOCK_PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

/**
 * Splits a reply into the stream's chunk texts: a word (with its leading space) per chunk, several words a chunk
 * when there are more than `MOCK_LIMITS.streamChunks` words.
 */
export function streamPieces(text: string): string[] {
  const words = text.match(/\s*\S+/g) ?? [text];
  if (words.length <= MOCK_LIMITS.streamChunks) return words;
  const per = Math.ceil(words.length / MOCK_LIMITS.streamChunks);
  const pieces: string[] = [];
  for (let i = 0; i < words.length; i += per) pieces.push(words.slice(i, i + per).join(""));
  return pieces;
}

export function mockAnswer(action: Action, model: string, body: unknown): unknown {
  switch (action) {
    case "generateContent": {
      const req = body as GenerateContentRequest;
      const { text, finishReason } = reply(req);
      return {
        candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason, index: 0 }],
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
      if (req.requests.length > MOCK_LIMITS.batchRequests) {
        throw new MockRefusal(`at most ${MOCK_LIMITS.batchRequests} requests can be in one batch (got ${req.requests.length})`);
      }
      return {
        embeddings: req.requests.map((r) => ({ values: mockEmbedding(contentsText([r.content]), r.outputDimensionality) })),
      };
    }
    case "predict": {
      const req = body as PredictRequest;
      const n = req.parameters?.sampleCount ?? 1;
      inRange("sampleCount", n, MOCK_LIMITS.sampleCount);
      return { predictions: Array.from({ length: n }, () => ({ bytesBase64Encoded: MOCK_PNG_BASE64, mimeType: "image/png" })) };
    }
    case "streamGenerateContent":
      throw new Error("streamed answers are built by mockStream");
  }
}

/** The stream as Gemini frames it: one `data:` event per chunk, `\r\n\r\n` between events. */
export function mockStream(model: string, body: GenerateContentRequest): ReadableStream<Uint8Array> {
  const { text, finishReason } = reply(body);
  const pieces = streamPieces(text);
  const enc = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      const last = i === pieces.length - 1;
      const chunk: Record<string, unknown> = {
        candidates: [{ content: { role: "model", parts: [{ text: pieces[i] }] }, index: 0, ...(last ? { finishReason } : {}) }],
        modelVersion: model,
      };
      if (last) chunk.usageMetadata = usage(body, text);
      controller.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\r\n\r\n`));
      if (++i === pieces.length) controller.close();
    },
  }, { highWaterMark: 0 });
}
