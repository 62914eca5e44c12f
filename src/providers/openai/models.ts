import { CHAT_ACTIONS as CHAT, type ModelInfo } from "../types";

const EMBED = ["embedContent", "batchEmbedContents", "countTokens"] as const;

export const OPENAI_MODELS: readonly ModelInfo[] = [
  { id: "gpt-4o-mini", displayName: "GPT-4o mini", inputTokenLimit: 128000, outputTokenLimit: 16384, actions: CHAT },
  { id: "gpt-4o", displayName: "GPT-4o", inputTokenLimit: 128000, outputTokenLimit: 16384, actions: CHAT },
  { id: "gpt-4.1", displayName: "GPT-4.1", inputTokenLimit: 1047576, outputTokenLimit: 32768, actions: CHAT },
  { id: "gpt-4.1-mini", displayName: "GPT-4.1 mini", inputTokenLimit: 1047576, outputTokenLimit: 32768, actions: CHAT },
  { id: "gpt-4.1-nano", displayName: "GPT-4.1 nano", inputTokenLimit: 1047576, outputTokenLimit: 32768, actions: CHAT },
  { id: "gpt-5", displayName: "GPT-5", inputTokenLimit: 272000, outputTokenLimit: 128000, actions: CHAT },
  { id: "gpt-5-mini", displayName: "GPT-5 mini", inputTokenLimit: 272000, outputTokenLimit: 128000, actions: CHAT },
  { id: "gpt-5-nano", displayName: "GPT-5 nano", inputTokenLimit: 272000, outputTokenLimit: 128000, actions: CHAT },
  { id: "o4-mini", displayName: "o4-mini", inputTokenLimit: 200000, outputTokenLimit: 100000, actions: CHAT },
  { id: "text-embedding-3-small", displayName: "text-embedding-3-small", inputTokenLimit: 8191, actions: EMBED },
  { id: "text-embedding-3-large", displayName: "text-embedding-3-large", inputTokenLimit: 8191, actions: EMBED },
  { id: "gpt-image-1", displayName: "GPT Image 1", actions: ["predict"] },
  { id: "dall-e-3", displayName: "DALL·E 3", actions: ["predict"] },
];
