import { CHAT_ACTIONS as CHAT, type ModelInfo } from "../types";

export const GEMINI_MODELS: readonly ModelInfo[] = [
  { id: "gemini-2.5-pro", displayName: "Gemini 2.5 Pro", inputTokenLimit: 1048576, outputTokenLimit: 65536, actions: CHAT },
  { id: "gemini-2.5-flash", displayName: "Gemini 2.5 Flash", inputTokenLimit: 1048576, outputTokenLimit: 65536, actions: CHAT },
  { id: "gemini-2.5-flash-lite", displayName: "Gemini 2.5 Flash-Lite", inputTokenLimit: 1048576, outputTokenLimit: 65536, actions: CHAT },
  { id: "gemini-2.0-flash", displayName: "Gemini 2.0 Flash", inputTokenLimit: 1048576, outputTokenLimit: 8192, actions: CHAT },
  { id: "gemini-embedding-001", displayName: "Gemini Embedding 001", inputTokenLimit: 2048, actions: ["embedContent", "batchEmbedContents", "countTokens"] },
  { id: "text-embedding-004", displayName: "Text Embedding 004", inputTokenLimit: 2048, actions: ["embedContent", "batchEmbedContents"] },
  { id: "imagen-4.0-generate-001", displayName: "Imagen 4", actions: ["predict"] },
];
