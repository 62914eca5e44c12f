import { ACTIONS } from "../../gemini/schema";
import type { ModelInfo } from "../types";

export const MOCK_MODELS: readonly ModelInfo[] = [
  { id: "echo", displayName: "edgeway mock (echo)", inputTokenLimit: 1048576, outputTokenLimit: 8192, actions: ACTIONS },
];
