/** Provider `mock`: Gemini's translators over an in-process transport that answers like Gemini would. */
import type { Action, GenerateContentRequest } from "../../gemini/schema";
import { geminiProvider } from "../gemini";
import type { Provider } from "../types";
import { mockAnswer, MockRefusal, mockStream } from "./answer";
import { MOCK_MODELS } from "./models";

const MOCK_BASE = "http://mock.edgeway.invalid";

export function mockProvider(): Provider<string | undefined> {
  // No caller keys and no resources API: the mock answers model actions only.
  const { direct: _, resourceApi: __, ...gemini } = geminiProvider({ name: "mock", baseUrl: MOCK_BASE, models: MOCK_MODELS });
  return {
    ...gemini,
    configured: true,
    async fetch(request) {
      const m = /\/models\/([^/:]+):(\w+)/.exec(new URL(request.url).pathname);
      const model = decodeURIComponent(m?.[1] ?? "mock");
      const action = m?.[2] as Action;
      const body = await request.json();
      try {
        if (action === "streamGenerateContent") {
          return new Response(mockStream(model, body as GenerateContentRequest), {
            headers: { "content-type": "text/event-stream" },
          });
        }
        return Response.json(mockAnswer(action, model, body));
      } catch (e) {
        if (!(e instanceof MockRefusal)) throw e;
        return Response.json({ error: { code: 400, message: e.message, status: "INVALID_ARGUMENT" } }, { status: 400 });
      }
    },
  };
}
