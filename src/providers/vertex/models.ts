import { GEMINI_MODELS } from "../gemini/models";
import { CHAT_ACTIONS as CHAT, type ModelInfo } from "../types";

/** Gemini's chat and image models under their Vertex names, and Claude as Vertex names its versions. */
export const VERTEX_MODELS: readonly ModelInfo[] = [
  ...GEMINI_MODELS.filter((m) => !m.actions.includes("embedContent")),
  { id: "claude-sonnet-4-5@20250929", displayName: "Claude Sonnet 4.5 (Vertex AI)", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "claude-haiku-4-5@20251001", displayName: "Claude Haiku 4.5 (Vertex AI)", inputTokenLimit: 200000, outputTokenLimit: 64000, actions: CHAT },
  { id: "claude-opus-4-1@20250805", displayName: "Claude Opus 4.1 (Vertex AI)", inputTokenLimit: 200000, outputTokenLimit: 32000, actions: CHAT },
];
