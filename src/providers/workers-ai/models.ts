import { CHAT_ACTIONS as CHAT, type ModelInfo } from "../types";

const EMBED = ["embedContent", "batchEmbedContents"] as const;

/** A few of the edge's text models that take tools; any other Workers AI model may still be named. */
export const WORKERS_AI_MODELS: readonly ModelInfo[] = [
  { id: "@cf/meta/llama-3.3-70b-instruct-fp8-fast", displayName: "Llama 3.3 70B Instruct (fp8, fast)", inputTokenLimit: 24000, actions: CHAT },
  { id: "@cf/meta/llama-4-scout-17b-16e-instruct", displayName: "Llama 4 Scout 17B 16E Instruct", inputTokenLimit: 131000, actions: CHAT },
  { id: "@cf/mistralai/mistral-small-3.1-24b-instruct", displayName: "Mistral Small 3.1 24B Instruct", inputTokenLimit: 128000, actions: CHAT },
  { id: "@cf/qwen/qwen2.5-coder-32b-instruct", displayName: "Qwen 2.5 Coder 32B Instruct", inputTokenLimit: 32768, actions: CHAT },
  { id: "@cf/baai/bge-m3", displayName: "BGE M3 (embeddings)", actions: EMBED },
];
