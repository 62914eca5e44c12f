/**
 * Workers AI (`workers-ai/@cf/<vendor>/<model>`): the edge's own models through the Worker's `AI` binding, with no
 * key at all. Requests are OpenAI-style messages and tools (the OpenAI translators); answers come in Workers AI's
 * own shape (`response`, `tool_calls`, `usage`) or, for the models that speak it, OpenAI's — both are read.
 */
import { upstreamError } from "../../gemini/errors";
import type { CountTokensRequest } from "../../gemini/schema";
import { estimateCount } from "../../gemini/text";
import { CredentialPool } from "../credentials/pool";
import type { Provider } from "../types";
import { WORKERS_AI_MODELS } from "./models";
import { aiAnswer, aiInputs } from "./wire";
import { aiDecoder } from "./stream";

/** What the gateway uses of the `AI` binding (tests pass a fake with the same shape). */
export interface AiBinding {
  run(model: string, inputs: unknown, options?: { signal?: AbortSignal }): Promise<unknown>;
}

const BINDING_URL = "https://workers-ai.binding.invalid/run/";

export function workersAiProvider(ai: AiBinding | undefined): Provider<undefined> {
  const name = "workers-ai";
  return {
    name,
    models: WORKERS_AI_MODELS,
    actions: new Set(["generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents"] as const),
    configured: !!ai,
    pool: CredentialPool.keyless(name),
    local: (call) => (call.action === "countTokens" ? estimateCount(call.body as CountTokensRequest) : undefined),
    // The Request only carries model and inputs to `fetch` below, through the attempt loop's timers and signal.
    prepare: async (call) => new Request(BINDING_URL + encodeURIComponent(call.model), {
      method: "POST",
      body: JSON.stringify(aiInputs(call)),
    }),
    response: aiAnswer,
    error: (status, text, secrets) => upstreamError(status, text, name, secrets),
    decode: aiDecoder,
    async fetch(request) {
      if (!ai) return Response.json({ error: { message: "the AI binding is not bound" } }, { status: 503 });
      const model = decodeURIComponent(new URL(request.url).pathname.slice("/run/".length));
      const inputs = (await request.json()) as { stream?: boolean };
      let out: unknown;
      try {
        out = await ai.run(model, inputs, { signal: request.signal });
      } catch (e) {
        if (request.signal.aborted) throw e;
        const message = (e as Error)?.message ?? String(e);
        return Response.json({ error: { message } }, { status: aiErrorStatus(message) });
      }
      if (out instanceof ReadableStream) return new Response(out, { headers: { "content-type": "text/event-stream" } });
      return Response.json(out);
    },
  };
}

/**
 * The binding throws errors whose message starts with Workers AI's numeric code: capacity and daily-allocation
 * limits are a 429 (retried, another target may serve), bad input a 400, an unknown model a 404; anything else is
 * the upstream failing.
 */
export function aiErrorStatus(message: string): number {
  const code = /\b([3-9]\d{3})\b/.exec(message)?.[1];
  switch (code) {
    case "3036":
    case "3040":
    case "3041":
      return 429;
    case "5006":
    case "5021":
    case "3010":
      return 400;
    case "5007":
      return 404;
  }
  return 502;
}
