/**
 * ConverseStream events → Gemini stream chunks. Each event-stream message names its event in `:event-type` and
 * carries that event's JSON; an `:message-type` of `exception` is an error sent inside the stream. Text and
 * reasoning deltas go out as they arrive; a tool call's input fragments are assembled and sent as one functionCall
 * part at `contentBlockStop`. `messageStop` names the stop reason and `metadata` (after it) the usage: the last
 * chunk carries both, as Gemini's does.
 */
import { StreamedUpstreamError } from "../../gemini/errors";
import type { GenerateContentResponse, Part } from "../../gemini/schema";
import { decoded } from "../../streaming/translate";
import type { StreamDecoder, StreamTranslator } from "../types";
import { eventStreamEvents, type EventMessage } from "./eventstream";
import { exceptionCode, finishReason, usageMetadata, type ConverseUsage } from "./response";

interface Delta {
  text?: string;
  toolUse?: { input?: string };
  reasoningContent?: { text?: string; signature?: string };
}

const decoder = new TextDecoder();

export function converseStream(model: string): StreamTranslator<EventMessage> {
  const tools = new Map<number, { id?: string; name: string; input: string }>();
  let stop: string | undefined;
  let malformed = false;
  let sentFinal = false;

  const chunk = (parts: Part[], extra: Record<string, unknown> = {}): GenerateContentResponse =>
    ({ candidates: [{ content: { role: "model", parts }, index: 0, ...extra }], modelVersion: model });

  const final = (usage?: ConverseUsage): GenerateContentResponse[] => {
    if (sentFinal) return [];
    sentFinal = true;
    const reason = malformed ? "MALFORMED_FUNCTION_CALL" : stop ? finishReason(stop) : undefined;
    const c = chunk([], reason ? { finishReason: reason } : {});
    if (usage) c.usageMetadata = usageMetadata(usage);
    return [c];
  };

  return {
    event(m) {
      const type = m.headers[":event-type"];
      const body = m.payload.length ? (JSON.parse(decoder.decode(m.payload)) as Record<string, any>) : {};
      if (m.headers[":message-type"] === "exception" || m.headers[":message-type"] === "error") {
        const kind = m.headers[":exception-type"] ?? m.headers[":error-code"];
        throw new StreamedUpstreamError({ error: { code: exceptionCode(kind), message: `${kind ?? "error"}: ${body.message ?? m.headers[":error-message"] ?? "stream error"}` } });
      }
      switch (type) {
        case "contentBlockStart": {
          const t = body.start?.toolUse;
          if (t) tools.set(body.contentBlockIndex ?? 0, { id: t.toolUseId, name: t.name ?? "", input: "" });
          return [];
        }
        case "contentBlockDelta": {
          const d = (body.delta ?? {}) as Delta;
          if (d.text) return [chunk([{ text: d.text }])];
          if (d.reasoningContent?.text) return [chunk([{ text: d.reasoningContent.text, thought: true }])];
          // The signature closes a reasoning block; the caller needs it to send the thought back next turn.
          if (d.reasoningContent?.signature) return [chunk([{ text: "", thought: true, thoughtSignature: d.reasoningContent.signature }])];
          if (d.toolUse?.input !== undefined) {
            const t = tools.get(body.contentBlockIndex ?? 0);
            if (t) t.input += d.toolUse.input;
          }
          return [];
        }
        case "contentBlockStop": {
          const index = body.contentBlockIndex ?? 0;
          const t = tools.get(index);
          if (!t) return [];
          tools.delete(index);
          let args: unknown = {};
          try {
            if (t.input) args = JSON.parse(t.input);
          } catch {
            malformed = true;
            return [];
          }
          return [chunk([{ functionCall: { id: t.id, name: t.name, args: args as Record<string, unknown> } }])];
        }
        case "messageStop":
          stop = body.stopReason;
          return [];
        case "metadata":
          return final(body.usage);
        default:
          // messageStart and event types added later carry nothing for the caller.
          return [];
      }
    },
    // A stream that ended without its metadata event still gets its finish reason out.
    end: () => (stop || malformed ? final() : []),
  };
}

export const converseDecoder: StreamDecoder = (body, call, onBytes) =>
  decoded(body, eventStreamEvents(onBytes), converseStream(call.model));
