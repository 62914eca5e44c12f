/**
 * zod/mini schemas of the Gemini request and response fields the gateway reads. Objects are loose: fields the
 * gateway does not read pass through untouched, so new Gemini features keep working. Types come from z.infer.
 */
import * as z from "zod/mini";

export const Part = z.looseObject({
  text: z.optional(z.string()),
  thought: z.optional(z.boolean()),
  thoughtSignature: z.optional(z.string()),
  inlineData: z.optional(z.looseObject({ mimeType: z.string(), data: z.string() })),
  fileData: z.optional(z.looseObject({ mimeType: z.optional(z.string()), fileUri: z.string() })),
  functionCall: z.optional(
    z.looseObject({ id: z.optional(z.string()), name: z.string(), args: z.optional(z.record(z.string(), z.unknown())) }),
  ),
  functionResponse: z.optional(
    z.looseObject({ id: z.optional(z.string()), name: z.string(), response: z.optional(z.unknown()) }),
  ),
});
export type Part = z.infer<typeof Part>;

export const Content = z.looseObject({
  role: z.optional(z.string()),
  parts: z.array(Part),
});
export type Content = z.infer<typeof Content>;

export const FunctionDeclaration = z.looseObject({
  name: z.string(),
  description: z.optional(z.string()),
  parameters: z.optional(z.unknown()),
  parametersJsonSchema: z.optional(z.unknown()),
});
export type FunctionDeclaration = z.infer<typeof FunctionDeclaration>;

export const Tool = z.looseObject({ functionDeclarations: z.optional(z.array(FunctionDeclaration)) });
export type Tool = z.infer<typeof Tool>;

export const ToolConfig = z.looseObject({
  functionCallingConfig: z.optional(
    z.looseObject({
      mode: z.optional(z.string()),
      allowedFunctionNames: z.optional(z.array(z.string())),
    }),
  ),
});

const num = z.optional(z.number());
export const GenerationConfig = z.looseObject({
  temperature: num,
  topP: num,
  topK: num,
  candidateCount: z.optional(z.int()),
  maxOutputTokens: z.optional(z.int()),
  stopSequences: z.optional(z.array(z.string())),
  presencePenalty: num,
  frequencyPenalty: num,
  seed: z.optional(z.int()),
  responseMimeType: z.optional(z.string()),
  responseSchema: z.optional(z.unknown()),
  responseJsonSchema: z.optional(z.unknown()),
  thinkingConfig: z.optional(
    z.looseObject({
      includeThoughts: z.optional(z.boolean()),
      thinkingBudget: z.optional(z.int()),
      thinkingLevel: z.optional(z.string()),
    }),
  ),
});
export type GenerationConfig = z.infer<typeof GenerationConfig>;

/** The gateway's own body fields: read here, never sent upstream. */
const gatewayFields = {
  fallbacks: z.optional(z.array(z.string())),
  model: z.optional(z.string()),
};
export const GATEWAY_FIELDS = Object.keys(gatewayFields);

export const GenerateContentRequest = z.looseObject({
  contents: z.array(Content).check(z.minLength(1, "contents must not be empty")),
  systemInstruction: z.optional(z.union([Content, z.string()])),
  generationConfig: z.optional(GenerationConfig),
  safetySettings: z.optional(z.array(z.looseObject({}))),
  tools: z.optional(z.array(Tool)),
  toolConfig: z.optional(ToolConfig),
  cachedContent: z.optional(z.string()),
  labels: z.optional(z.record(z.string(), z.string())),
  ...gatewayFields,
});
export type GenerateContentRequest = z.infer<typeof GenerateContentRequest>;

export const CountTokensRequest = z.looseObject({
  contents: z.optional(z.array(Content)),
  generateContentRequest: z.optional(z.looseObject({ contents: z.optional(z.array(Content)) })),
  ...gatewayFields,
});
export type CountTokensRequest = z.infer<typeof CountTokensRequest>;

export const EmbedContentRequest = z.looseObject({
  content: Content,
  taskType: z.optional(z.string()),
  title: z.optional(z.string()),
  outputDimensionality: z.optional(z.int()),
  ...gatewayFields,
});
export type EmbedContentRequest = z.infer<typeof EmbedContentRequest>;

export const BatchEmbedContentsRequest = z.looseObject({
  requests: z.array(EmbedContentRequest).check(z.minLength(1, "requests must not be empty")),
  ...gatewayFields,
});
export type BatchEmbedContentsRequest = z.infer<typeof BatchEmbedContentsRequest>;

export const PredictRequest = z.looseObject({
  instances: z.array(z.looseObject({ prompt: z.optional(z.string()) })).check(z.minLength(1, "instances must not be empty")),
  parameters: z.optional(
    z.looseObject({
      sampleCount: z.optional(z.int()),
      aspectRatio: z.optional(z.string()),
      outputOptions: z.optional(z.looseObject({ mimeType: z.optional(z.string()) })),
    }),
  ),
  ...gatewayFields,
});
export type PredictRequest = z.infer<typeof PredictRequest>;

export const ACTIONS = [
  "generateContent",
  "streamGenerateContent",
  "countTokens",
  "embedContent",
  "batchEmbedContents",
  "predict",
] as const;
export type Action = (typeof ACTIONS)[number];

/** One compiled schema per action, built once per isolate. */
export const REQUEST_SCHEMAS = {
  generateContent: GenerateContentRequest,
  streamGenerateContent: GenerateContentRequest,
  countTokens: CountTokensRequest,
  embedContent: EmbedContentRequest,
  batchEmbedContents: BatchEmbedContentsRequest,
  predict: PredictRequest,
} as const satisfies Record<Action, z.ZodMiniType>;

export type RequestBody = z.infer<(typeof REQUEST_SCHEMAS)[Action]>;

/** Token accounting as Gemini reports it in `usageMetadata`. */
export const UsageMetadata = z.looseObject({
  promptTokenCount: z.optional(z.number()),
  candidatesTokenCount: z.optional(z.number()),
  cachedContentTokenCount: z.optional(z.number()),
  thoughtsTokenCount: z.optional(z.number()),
  /** Tokens of tool-use prompts; not part of promptTokenCount, billed as input. */
  toolUsePromptTokenCount: z.optional(z.number()),
  totalTokenCount: z.optional(z.number()),
  // Also passed through, and read by src/usage/cost.ts: promptTokensDetails, cacheTokensDetails,
  // candidatesTokensDetails, toolUsePromptTokensDetails ([{modality, tokenCount}]).
});
export type UsageMetadata = z.infer<typeof UsageMetadata>;

export interface Candidate {
  content?: Content;
  finishReason?: string;
  index?: number;
  [k: string]: unknown;
}

/** A generateContent answer or one stream chunk (Gemini sends the same shape for both). */
export interface GenerateContentResponse {
  candidates?: Candidate[];
  usageMetadata?: UsageMetadata;
  modelVersion?: string;
  responseId?: string;
  promptFeedback?: unknown;
  [k: string]: unknown;
}

/** Renders zod issues as one readable line: `contents.0.parts: expected array`. */
/** An issue in words; an unknown field is named (bounded), so a caller sees which one to drop. */
function issueText(i: z.core.$ZodIssue): string {
  if (i.code === "invalid_type") return `expected ${i.expected}`;
  if (i.code === "unrecognized_keys") return `unknown field ${i.keys.slice(0, 3).map((k) => JSON.stringify(k.slice(0, 40))).join(", ")}`;
  return i.message;
}

export function describeIssues(issues: readonly z.core.$ZodIssue[], root = "body"): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : root}: ${issueText(i)}`)
    .join("; ");
}
