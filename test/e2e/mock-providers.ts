/**
 * Scripted OpenAI and Anthropic upstreams speaking their real wire formats (JSON and SSE), for the e2e tests that put
 * the gateway in front of them.
 */
import type http from "node:http";
import { mockUpstream, startGateway, type Gateway, type MockUpstream, type SeenRequest } from "./harness";

const sse = (res: http.ServerResponse, events: string[]) => {
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const e of events) res.write(e);
  res.end();
};

/** A scripted OpenAI: tool result → answer using it; tools → a call; JSON format → JSON; else echo the last user text. */
function openaiAnswer(body: any): { content?: string; tool_calls?: unknown[]; finish: string } {
  const msgs = body.messages as any[];
  const last = msgs.at(-1);
  if (last.role === "tool") return { content: `It is ${JSON.parse(last.content).temp_c}°C.`, finish: "stop" };
  if (body.tools) {
    return { tool_calls: [{ id: "call_e2e1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }], finish: "tool_calls" };
  }
  if (body.response_format?.type === "json_schema") return { content: '{"city":"Paris","country":"France"}', finish: "stop" };
  const text = typeof last.content === "string" ? last.content : last.content.filter((p: any) => p.type === "text").map((p: any) => p.text).join("");
  const images = Array.isArray(last.content) ? last.content.filter((p: any) => p.type === "image_url").length : 0;
  const system = msgs[0].role === "system" ? ` [system: ${msgs[0].content}]` : "";
  return { content: `You said: ${text}${images ? ` (+${images} image)` : ""}${system} [turns: ${msgs.length}]`, finish: "stop" };
}

const OPENAI_USAGE = { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18, prompt_tokens_details: { cached_tokens: 0 }, completion_tokens_details: { reasoning_tokens: 0 } };

export async function openaiHandler(req: SeenRequest, res: http.ServerResponse) {
  const body = JSON.parse(req.body);
  const a = openaiAnswer(body);
  const base = { id: "chatcmpl-e2e", created: 1, model: "gpt-4o-mini-2024-07-18", system_fingerprint: "fp_e2e" };
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify({
      ...base, object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: a.content ?? null, refusal: null, ...(a.tool_calls ? { tool_calls: a.tool_calls } : {}) }, logprobs: null, finish_reason: a.finish }],
      usage: OPENAI_USAGE,
    }));
  }
  const chunk = (delta: unknown, finish: string | null = null) =>
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  const words = (a.content ?? "").match(/\s*\S+/g) ?? [];
  sse(res, [
    chunk({ role: "assistant", content: "" }),
    ...words.map((w) => chunk({ content: w })),
    // Tool calls stream as an opening delta (id, name) and argument fragments.
    ...((a.tool_calls ?? []) as any[]).flatMap((t, index) => [
      chunk({ tool_calls: [{ index, id: t.id, type: "function", function: { name: t.function.name, arguments: "" } }] }),
      chunk({ tool_calls: [{ index, function: { arguments: t.function.arguments.slice(0, 6) } }] }),
      chunk({ tool_calls: [{ index, function: { arguments: t.function.arguments.slice(6) } }] }),
    ]),
    chunk({}, a.finish),
    `data: ${JSON.stringify({ ...base, object: "chat.completion.chunk", choices: [], usage: OPENAI_USAGE })}\n\n`,
    "data: [DONE]\n\n",
  ]);
}

export async function anthropicHandler(req: SeenRequest, res: http.ServerResponse) {
  const body = JSON.parse(req.body);
  if (req.url === "/v1/messages/count_tokens") {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify({ input_tokens: 5 }));
  }
  const msgs = body.messages as any[];
  const last = msgs.at(-1);
  const result = last.content.find((b: any) => b.type === "tool_result");
  let content: any[];
  let stop = "end_turn";
  if (result) content = [{ type: "text", text: `It is ${JSON.parse(result.content).temp_c}°C.` }];
  else if (body.tool_choice?.name === "json_response") {
    content = [{ type: "tool_use", id: "toolu_json", name: "json_response", input: { city: "Paris", country: "France" } }];
    stop = "tool_use";
  } else if (body.tools) {
    content = [{ type: "text", text: "Let me check." }, { type: "tool_use", id: "toolu_e2e1", name: "get_weather", input: { city: "Paris" } }];
    stop = "tool_use";
  } else {
    const text = last.content.filter((b: any) => b.type === "text").map((b: any) => b.text).join("");
    const images = last.content.filter((b: any) => b.type === "image").length;
    content = [{ type: "text", text: `You said: ${text}${images ? ` (+${images} image)` : ""}${body.system ? ` [system: ${body.system}]` : ""} [turns: ${msgs.length}]` }];
  }
  const usage = { input_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 4, output_tokens: 6 };
  const message = { id: "msg_e2e", type: "message", role: "assistant", model: "claude-sonnet-4-5-20250929", content, stop_reason: stop, stop_sequence: null, usage };
  if (!body.stream) {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify(message));
  }
  const ev = (type: string, o: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
  const events = [ev("message_start", { message: { ...message, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } } })];
  content.forEach((b, index) => {
    if (b.type === "text") {
      events.push(ev("content_block_start", { index, content_block: { type: "text", text: "" } }), ev("ping", {}));
      for (const w of b.text.match(/\s*\S+/g)) events.push(ev("content_block_delta", { index, delta: { type: "text_delta", text: w } }));
    } else {
      const json = JSON.stringify(b.input);
      events.push(ev("content_block_start", { index, content_block: { ...b, input: {} } }));
      for (const part of [json.slice(0, 5), json.slice(5)]) events.push(ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: part } }));
    }
    events.push(ev("content_block_stop", { index }));
  });
  events.push(ev("message_delta", { delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 6 } }), ev("message_stop", {}));
  sse(res, events);
}

/** Loopback OpenAI and Anthropic upstreams, and a gateway configured with them (`close` stops all three). */
export async function gatewayWithProviders(): Promise<{ openai: MockUpstream; anthropic: MockUpstream; gw: Gateway; close(): Promise<void> }> {
  const openai = await mockUpstream(openaiHandler);
  const anthropic = await mockUpstream(anthropicHandler);
  const gw = await startGateway({
    OPENAI_API_KEY: "upstream-secret-openai",
    OPENAI_BASE_URL: openai.url,
    ANTHROPIC_API_KEY: "upstream-secret-anthropic",
    ANTHROPIC_BASE_URL: anthropic.url,
  });
  return {
    openai, anthropic, gw,
    async close() {
      await gw.stop();
      await openai.close();
      await anthropic.close();
    },
  };
}
