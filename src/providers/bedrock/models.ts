import { CHAT_ACTIONS as CHAT, type ModelInfo } from "../types";

/** A few Converse models by their Bedrock ids (cross-region inference profiles start `us.`/`eu.`/`global.`). */
export const BEDROCK_MODELS: readonly ModelInfo[] = [
  { id: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", displayName: "Claude Sonnet 4.5 (Bedrock, US profile)", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "us.anthropic.claude-haiku-4-5-20251001-v1:0", displayName: "Claude Haiku 4.5 (Bedrock, US profile)", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "amazon.nova-pro-v1:0", displayName: "Amazon Nova Pro", inputTokenLimit: 300000, outputTokenLimit: 10000, actions: CHAT },
  { id: "amazon.nova-lite-v1:0", displayName: "Amazon Nova Lite", inputTokenLimit: 300000, outputTokenLimit: 10000, actions: CHAT },
  { id: "meta.llama3-3-70b-instruct-v1:0", displayName: "Llama 3.3 70B Instruct (Bedrock)", inputTokenLimit: 128000, outputTokenLimit: 8192, actions: CHAT },
];
