/**
 * Traces as hooks (src/hooks/hook.ts), configured only when OTEL_EXPORTER_OTLP_ENDPOINT is set. `spans` sees each
 * model action's answer (`onAnswer`: the model that answered, its id, the finish reasons; the text too with content
 * capture on) and every call's finished row (`afterCall`), which it queues for export with what it saw. Nothing is
 * encoded or sent on a call's path: the row is queued as it is, and the span is built and posted after the response
 * (src/observe/traces/exporter.ts). Per-call state lives against the request id until `afterCall`, which every call
 * gets. `spans` is first in the list of hooks: it sees the answer after the others changed it (a guardrail's
 * redaction) and the row last, with what the others put on it (cache, guardrails). With content capture on,
 * `content` takes the prompt in its `beforeUpstream`, placed after the guardrails (it sees the prompt as they let it
 * go upstream, redacted; a prompt they block is never captured) and before the cache (which may answer the call).
 */
import type { GenerateContentResponse } from "../../gemini/schema";
import type { Hook } from "../../hooks/hook";
import { AnswerText, inputMessages } from "./content";
import { exporterFor } from "./exporter";
import type { TraceSettings } from "./settings";

interface CallState {
  responseModel?: string;
  responseId?: string;
  finishReasons?: string[];
  input?: string;
  system?: string;
  answer?: AnswerText;
}

export interface TracesHooks {
  spans: Hook;
  /** With content capture on: the prompt, as it goes upstream. */
  content?: Hook;
}

export function tracesHooks(settings: TraceSettings): TracesHooks {
  // Keyed by the call's scope (the same object the hooks get from beforeUpstream to afterCall): gone with the call.
  const calls = new WeakMap<object, CallState>();
  const exporter = exporterFor(settings);
  const stateOf = (call: object) => {
    let s = calls.get(call);
    if (!s) calls.set(call, (s = {}));
    return s;
  };
  const capture = settings.captureContent;

  const spans: Hook = {
    name: "traces",
    onAnswer(call, json) {
      const answer = json as GenerateContentResponse;
      const s = stateOf(call);
      if (typeof answer.modelVersion === "string") s.responseModel = answer.modelVersion.slice(0, 200);
      if (typeof answer.responseId === "string") s.responseId = answer.responseId;
      for (const c of answer.candidates ?? []) {
        if (typeof c.finishReason !== "string") continue;
        s.finishReasons ??= [];
        if (!s.finishReasons.includes(c.finishReason) && s.finishReasons.length < 16) s.finishReasons.push(c.finishReason.slice(0, 100));
      }
      if (capture) (s.answer ??= new AnswerText()).add(answer);
    },

    afterCall(row, call) {
      const s = calls.get(call);
      exporter.add(
        {
          row,
          traceparent: call.traceparent,
          responseModel: s?.responseModel,
          responseId: s?.responseId,
          finishReasons: s?.finishReasons,
          input: s?.input,
          system: s?.system,
          answer: s?.answer,
          // A direct caller's own keys, to be redacted from its captured content (held until the span is built).
          own: capture && call.direct ? [...call.direct.keys.values()] : undefined,
        },
        call.env.DB,
        call.waitUntil,
      );
    },
  };
  if (!capture) return { spans };
  const content: Hook = {
    name: "traces-content",
    beforeUpstream(call, request) {
      const { messages, system } = inputMessages(request.body as Record<string, unknown>);
      const s = stateOf(call);
      s.input = messages;
      s.system = system;
      return {};
    },
  };
  return { spans, content };
}
