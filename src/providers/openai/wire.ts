/**
 * The OpenAI request body and answer of each action, whatever carries them: OpenAI itself, compatible hosts, and
 * the backends that reuse these translators (Azure OpenAI, Workers AI) with their own URLs and credentials.
 */
import { badRequest } from "../../gemini/errors";
import type {
  BatchEmbedContentsRequest, EmbedContentRequest, GenerateContentRequest, PredictRequest,
} from "../../gemini/schema";
import type { GeminiJson, ProviderCall } from "../types";
import { chatBody, embeddingsBody, imagesBody, type ChatOptions } from "./request";
import { chatResponse, embeddingsResponse, imagesResponse, type ChatCompletion } from "./response";

export function openaiBody(call: ProviderCall, opts: ChatOptions): unknown {
  const name = opts.provider;
  switch (call.action) {
    case "generateContent":
    case "streamGenerateContent":
      return chatBody(call.model, call.body as GenerateContentRequest, call.action === "streamGenerateContent", opts);
    case "embedContent":
      return embeddingsBody(call.model, [call.body as EmbedContentRequest], name);
    case "batchEmbedContents":
      return embeddingsBody(call.model, (call.body as BatchEmbedContentsRequest).requests, name);
    case "predict":
      return imagesBody(call.model, call.body as PredictRequest, name);
    case "countTokens":
      throw badRequest(`${name}: countTokens is answered locally`);
  }
}

export function openaiAnswer(call: ProviderCall, upstream: unknown): GeminiJson {
  switch (call.action) {
    case "embedContent":
    case "batchEmbedContents":
      return embeddingsResponse(upstream as never, call.action === "batchEmbedContents");
    case "predict":
      return imagesResponse(upstream as never);
    default:
      return chatResponse(upstream as ChatCompletion);
  }
}
