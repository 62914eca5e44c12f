import { CHAT_ACTIONS as CHAT, type ModelInfo } from "../types";

export const ANTHROPIC_MODELS: readonly ModelInfo[] = [
  { id: "claude-opus-4-1", displayName: "Claude Opus 4.1", inputTokenLimit: 200000, outputTokenLimit: 32000, actions: CHAT },
  { id: "claude-sonnet-4-5", displayName: "Claude Sonnet 4.5", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "claude-haiku-4-5", displayName: "Claude Haiku 4.5", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "claude-sonnet-4-0", displayName: "Claude Sonnet 4", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "claude-3-5-haiku-latest", displayName: "Claude Haiku 3.5", inputTokenLimit: 200000, outputTokenLimit: 8192, actions: CHAT },
];
