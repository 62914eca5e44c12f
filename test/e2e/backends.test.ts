/**
 * Vertex AI (Gemini and Claude), Amazon Bedrock, Azure OpenAI and Workers AI through the bundled gateway, called
 * with the official @google/genai SDK. Loopback upstreams speak each real wire format: an OAuth token endpoint that
 * verifies the JWT's RS256 signature against the service account's public key, a Bedrock that checks SigV4 and
 * answers with event-stream frames, Azure's deployment URLs, and a fake `AI` binding for Workers AI.
 */
import { GoogleGenAI, Type, type GenerateContentResponse } from "@google/genai";
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { concatBytes, converseToolStream } from "../helpers/eventstream";
import { checkAssertion, serviceAccount } from "../helpers/google";
import { checkSigV4 } from "../helpers/sigv4";
import { mockUpstream, startGateway, type Gateway, type MockUpstream, type SeenRequest } from "./harness";

const WEATHER = {
  functionDeclarations: [{ name: "get_weather", description: "Current weather", parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] } }],
};
const AWS = { accessKeyId: "AKIAE2EEXAMPLE", secretAccessKey: "e2e/secret/access/key/EXAMPLE0123456789" };
const CLAUDE = "claude-sonnet-4-5@20250929";
const BEDROCK_MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const AI_MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";

let vertex: MockUpstream;
let bedrock: MockUpstream;
let azure: MockUpstream;
let gw: Gateway;
let ai: GoogleGenAI;
const tokens: string[] = [];
const aiCalls: { model: string; inputs: any }[] = [];

const sse = (res: http.ServerResponse, events: string[]) => {
  res.writeHead(200, { "content-type": "text/event-stream" });
  for (const e of events) res.write(e);
  res.end();
};
const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};
const wantsTool = (req: SeenRequest) => req.body.includes("get_weather");

/** Google: a token endpoint at /token, Gemini under publishers/google, Claude under publishers/anthropic. */
async function vertexHandler(account: Awaited<ReturnType<typeof serviceAccount>>, tokenUri: string) {
  return async (req: SeenRequest, res: http.ServerResponse) => {
    if (req.url === "/token") {
      const why = await checkAssertion(req.body, account, tokenUri);
      if (why) return json(res, 400, { error: "invalid_grant", error_description: why });
      tokens.push(`ya29.e2e-${tokens.length + 1}`);
      return json(res, 200, { access_token: tokens.at(-1), expires_in: 3599, token_type: "Bearer" });
    }
    if (req.headers.authorization !== `Bearer ${tokens.at(-1)}`) return json(res, 401, { error: { code: 401, message: "bad token", status: "UNAUTHENTICATED" } });
    const gemini = /^\/v1\/projects\/e2e-project\/locations\/europe-west4\/publishers\/google\/models\/([^:]+):(\w+)/.exec(req.url);
    if (gemini) {
      const body = JSON.parse(req.body);
      if (body.contents.some((c: any) => !c.role)) return json(res, 400, { error: { code: 400, message: "Please use a valid role: user, model.", status: "INVALID_ARGUMENT" } });
      const part = wantsTool(req) ? { functionCall: { name: "get_weather", args: { city: "Paris" } } } : { text: "Bonjour from Vertex" };
      const chunk = { candidates: [{ content: { role: "model", parts: [part] }, finishReason: "STOP", index: 0 }], usageMetadata: { promptTokenCount: 6, candidatesTokenCount: 4, totalTokenCount: 10 }, modelVersion: gemini[1] };
      if (gemini[2] === "streamGenerateContent") return sse(res, [`data: ${JSON.stringify(chunk)}\r\n\r\n`]);
      return json(res, 200, chunk);
    }
    const claude = /^\/v1\/projects\/e2e-project\/locations\/europe-west4\/publishers\/anthropic\/models\/([^:]+):(rawPredict|streamRawPredict)$/.exec(req.url);
    if (!claude) return json(res, 404, { error: { code: 404, message: `no route ${req.url}`, status: "NOT_FOUND" } });
    const body = JSON.parse(req.body);
    if (body.anthropic_version !== "vertex-2023-10-16" || body.model) return json(res, 400, { type: "error", error: { type: "invalid_request_error", message: "bad body" } });
    const usage = { input_tokens: 12, output_tokens: 7 };
    if (claude[2] === "rawPredict") {
      const content = wantsTool(req) ? [{ type: "tool_use", id: "toolu_v1", name: "get_weather", input: { city: "Paris" } }] : [{ type: "text", text: "Claude on Vertex" }];
      return json(res, 200, { id: "msg_v", type: "message", role: "assistant", model: CLAUDE, content, stop_reason: wantsTool(req) ? "tool_use" : "end_turn", usage });
    }
    const ev = (type: string, o: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
    sse(res, [
      ev("message_start", { message: { id: "msg_s", model: CLAUDE, usage: { ...usage, output_tokens: 1 } } }),
      ev("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
      ev("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Checking" } }),
      ev("content_block_stop", { index: 0 }),
      ev("content_block_start", { index: 1, content_block: { type: "tool_use", id: "toolu_v2", name: "get_weather", input: {} } }),
      ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: '{"city"' } }),
      ev("content_block_delta", { index: 1, delta: { type: "input_json_delta", partial_json: ':"Paris"}' } }),
      ev("content_block_stop", { index: 1 }),
      ev("message_delta", { delta: { stop_reason: "tool_use" }, usage: { output_tokens: 7 } }),
      ev("message_stop", {}),
    ]);
  };
}

async function bedrockHandler(req: SeenRequest, res: http.ServerResponse) {
  const why = await checkSigV4(req, AWS, "bedrock", "ap-southeast-2");
  if (why) return json(res, 403, { message: `The request signature we calculated does not match (${why})` });
  const m = /^\/model\/([^/]+)\/(converse|converse-stream)$/.exec(req.url);
  if (!m || decodeURIComponent(m[1]!) !== BEDROCK_MODEL) return json(res, 404, { message: `no model ${req.url}` });
  const body = JSON.parse(req.body);
  if (m[2] === "converse") {
    const content = body.toolConfig ? [{ toolUse: { toolUseId: "tooluse_e2e", name: "get_weather", input: { city: "Paris" } } }] : [{ text: "Hello from Bedrock" }];
    return json(res, 200, { output: { message: { role: "assistant", content } }, stopReason: body.toolConfig ? "tool_use" : "end_turn", usage: { inputTokens: 15, outputTokens: 5, totalTokens: 20 } });
  }
  res.writeHead(200, { "content-type": "application/vnd.amazon.eventstream" });
  // Real frames, written in uneven pieces so frames straddle network chunks.
  const bytes = concatBytes(converseToolStream("Let me check the weather.", { id: "tooluse_s", name: "get_weather", input: { city: "Paris" } }));
  for (let i = 0; i < bytes.length; i += 50) res.write(Buffer.from(bytes.subarray(i, i + 50)));
  res.end();
}

function azureHandler(req: SeenRequest, res: http.ServerResponse) {
  if (req.headers["api-key"] !== "azure-e2e-key-0123456789") return json(res, 401, { error: { code: "401", message: "Access denied due to invalid subscription key." } });
  if (!/^\/openai\/deployments\/chat-prod\/chat\/completions\?api-version=2024-10-21$/.test(req.url)) return json(res, 404, { error: { code: "DeploymentNotFound", message: req.url } });
  const body = JSON.parse(req.body);
  const call = { id: "call_az", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } };
  const usage = { prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 };
  if (!body.stream) {
    const message = body.tools ? { role: "assistant", content: null, tool_calls: [call] } : { role: "assistant", content: "Hello from Azure" };
    return json(res, 200, { id: "chatcmpl-az", object: "chat.completion", model: "gpt-4o", choices: [{ index: 0, message, finish_reason: body.tools ? "tool_calls" : "stop" }], usage });
  }
  const chunk = (delta: unknown, finish: string | null = null) => `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", model: "gpt-4o", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  sse(res, [
    chunk({ role: "assistant", content: "" }),
    chunk({ tool_calls: [{ index: 0, id: call.id, type: "function", function: { name: "get_weather", arguments: "" } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
    chunk({}, "tool_calls"),
    `data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", choices: [], usage })}\n\n`,
    "data: [DONE]\n\n",
  ]);
}

/** The fake binding: native Workers AI answers and SSE streams (text, a whole tool call, usage). */
function fakeAi(model: string, inputs: any): unknown {
  aiCalls.push({ model, inputs });
  if (model !== AI_MODEL) throw new Error(`5007: No such model ${model} or task`);
  if (!inputs.stream) {
    return inputs.tools ? { response: null, tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }], usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 } }
      : { response: "Hello from the edge", usage: { prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 } };
  }
  const enc = new TextEncoder();
  const events = [{ response: "Looking", p: "ab" }, { response: " it up." }, { response: "", tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }] }, { response: "", usage: { prompt_tokens: 20, completion_tokens: 9, total_tokens: 29 } }];
  return new ReadableStream({
    start(c) {
      for (const e of events) c.enqueue(enc.encode(`data: ${JSON.stringify(e)}\n\n`));
      c.enqueue(enc.encode("data: [DONE]\n\n"));
      c.close();
    },
  });
}

beforeAll(async () => {
  let vertexHandle: (req: SeenRequest, res: http.ServerResponse) => Promise<void> = async () => {};
  vertex = await mockUpstream((req, res) => vertexHandle(req, res));
  const account = await serviceAccount(`${vertex.url}/token`, "edgeway-e2e@e2e-project.iam.gserviceaccount.com");
  vertexHandle = await vertexHandler(account, `${vertex.url}/token`);
  bedrock = await mockUpstream(bedrockHandler);
  azure = await mockUpstream(azureHandler);
  gw = await startGateway({
    VERTEX_SERVICE_ACCOUNT: account.json.replace('"project_id":"test-project"', '"project_id":"e2e-project"'),
    VERTEX_LOCATION: "europe-west4",
    VERTEX_BASE_URL: vertex.url,
    AWS_ACCESS_KEY_ID: AWS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: AWS.secretAccessKey,
    BEDROCK_REGION: "ap-southeast-2",
    BEDROCK_BASE_URL: bedrock.url,
    AZURE_OPENAI_API_KEY: "azure-e2e-key-0123456789",
    AZURE_OPENAI_BASE_URL: azure.url,
    AZURE_OPENAI_DEPLOYMENTS: "chat-prod",
  }, { ai: fakeAi });
  const { key } = await gw.createKey({ name: "backends-e2e" });
  ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: `${gw.url}/genai` } });
});

afterAll(async () => {
  await gw?.stop();
  await Promise.all([vertex, bedrock, azure].map((u) => u?.close()));
});

async function streamed(model: string, withTool: boolean) {
  const chunks: GenerateContentResponse[] = [];
  const stream = await ai.models.generateContentStream({ model, contents: "What is the weather in Paris?", config: withTool ? { tools: [WEATHER] } : {} });
  for await (const c of stream) chunks.push(c);
  return chunks;
}
const calls = (chunks: GenerateContentResponse[]) => chunks.flatMap((c) => c.functionCalls ?? []);
const text = (chunks: GenerateContentResponse[]) => chunks.map((c) => c.text ?? "").join("");

describe.each([
  { model: "vertex/gemini-2.5-flash", reply: "Bonjour from Vertex", streamText: "" },
  { model: `vertex/${CLAUDE}`, reply: "Claude on Vertex", streamText: "Checking" },
  { model: `bedrock/${BEDROCK_MODEL}`, reply: "Hello from Bedrock", streamText: "Let me check the weather." },
  { model: "azure/chat-prod", reply: "Hello from Azure", streamText: "" },
  { model: `workers-ai/${AI_MODEL}`, reply: "Hello from the edge", streamText: "Looking it up." },
])("$model through @google/genai", ({ model, reply, streamText }) => {
  it("generateContent: text, and a tool call as a functionCall", async () => {
    const r = await ai.models.generateContent({ model, contents: "Say hello" });
    expect(r.text).toBe(reply);
    const t = await ai.models.generateContent({ model, contents: "What is the weather in Paris?", config: { tools: [WEATHER] } });
    expect(t.functionCalls?.map(({ name, args }) => ({ name, args }))).toEqual([{ name: "get_weather", args: { city: "Paris" } }]);
  });

  it("generateContentStream: text as it comes, the tool call whole, usage at the end", async () => {
    const chunks = await streamed(model, true);
    expect(text(chunks)).toBe(streamText);
    expect(calls(chunks).map(({ name, args }) => ({ name, args }))).toEqual([{ name: "get_weather", args: { city: "Paris" } }]);
    expect(chunks.at(-1)!.usageMetadata?.totalTokenCount).toBeGreaterThan(0);
  });
});

describe("credentials", () => {
  it("Vertex mints one access token (a verified JWT) and reuses it across calls", () => {
    // Every Vertex call above went out with the first token: the endpoint saw one exchange.
    expect(tokens).toEqual(["ya29.e2e-1"]);
    expect(vertex.requests.filter((r) => r.url === "/token")).toHaveLength(1);
    expect(vertex.requests.filter((r) => r.url !== "/token")).toHaveLength(6);
  });

  it("Bedrock calls were all SigV4-signed with the access key; none carried a secret in the URL", () => {
    expect(bedrock.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of bedrock.requests) {
      expect(r.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${AWS.accessKeyId}/\\d{8}/ap-southeast-2/bedrock/aws4_request`));
      expect(r.url).not.toContain(AWS.secretAccessKey);
    }
  });

  it("the models list shows what each configured backend serves", async () => {
    const names: string[] = [];
    for await (const m of await ai.models.list()) names.push(m.name!);
    expect(names).toEqual(expect.arrayContaining([
      "models/vertex/gemini-2.5-flash", `models/vertex/${CLAUDE}`, `models/bedrock/${BEDROCK_MODEL}`, "models/azure/chat-prod", `models/workers-ai/${AI_MODEL}`,
    ]));
  });

  it("the fake binding saw OpenAI-style messages and tools", () => {
    const withTools = aiCalls.find((c) => c.inputs.tools)!;
    expect(withTools.inputs.messages).toEqual([{ role: "user", content: "What is the weather in Paris?" }]);
    expect(withTools.inputs.tools[0].function.name).toBe("get_weather");
  });
});
