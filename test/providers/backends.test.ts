/**
 * Vertex AI, Amazon Bedrock, Azure OpenAI and Workers AI through the whole gateway in workerd: upstream fetch mocked
 * with each service's real wire format (OAuth token endpoint verifying the JWT, SigV4 checked, event-stream frames),
 * Workers AI through a fake `AI` binding.
 */
import { createExecutionContext, env } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { resetCredentialHealth } from "../../src/providers/credentials/pool";
import { resetTokenCache } from "../../src/providers/vertex/auth";
import { concatBytes, converseToolStream } from "../helpers/eventstream";
import { checkAssertion, serviceAccount, type TestAccount } from "../helpers/google";
import { checkSigV4 } from "../helpers/sigv4";
import { createKey, genaiSettled, mockUpstream, readSse, sseResponse, textRequest, usageRow, type UpstreamCall } from "../helpers/worker";

const TOKEN_URI = "https://oauth2.upstream.test/token";
const WEATHER = { functionDeclarations: [{ name: "get_weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } } } }] };
const toolRequest = (extra: Record<string, unknown> = {}) => textRequest("weather in Paris?", { tools: [WEATHER], ...extra });

let key: string;
let account: TestAccount;
beforeAll(async () => {
  key = (await createKey({ name: "backends" })).key;
  account = await serviceAccount(TOKEN_URI);
});
beforeEach(() => {
  resetCredentialHealth();
  resetTokenCache();
});
afterEach(() => vi.restoreAllMocks());

const geminiText = (text: string) => ({ candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP" }], usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 } });

/** A token endpoint that verifies each assertion, then the Vertex answer; `tokens` counts the exchanges. */
function vertexUpstream(answer: (c: UpstreamCall) => Response, expiresIn = 3600) {
  const tokens: string[] = [];
  const calls = mockUpstream(async (c) => {
    if (c.url === TOKEN_URI) {
      const why = await checkAssertion(c.body, account, TOKEN_URI);
      if (why) return Response.json({ error: "invalid_grant", error_description: why }, { status: 400 });
      tokens.push(`ya29.token-${tokens.length + 1}`);
      return Response.json({ access_token: tokens.at(-1), expires_in: expiresIn, token_type: "Bearer" });
    }
    if (!tokens.length || c.headers.get("authorization") !== `Bearer ${tokens.at(-1)}`) {
      return Response.json({ error: { code: 401, message: "Request had invalid authentication credentials.", status: "UNAUTHENTICATED" } }, { status: 401 });
    }
    return answer(c);
  });
  return { calls, tokens };
}

describe("vertex", () => {
  const vars = { VERTEX_SERVICE_ACCOUNT: "", VERTEX_LOCATION: "us-east5" };
  beforeAll(() => {
    vars.VERTEX_SERVICE_ACCOUNT = account.json;
  });

  it("Gemini: a minted token (verified JWT) on the regional endpoint, cached across calls; roles filled in", async () => {
    const { calls, tokens } = vertexUpstream(() => Response.json(geminiText("hi from vertex")));
    const body = { contents: [{ parts: [{ text: "hi" }] }], systemInstruction: "be brief" };
    const r = await genaiSettled("vertex/gemini-2.5-flash", "generateContent", body, key, { env: vars });
    expect(r.status).toBe(200);
    expect(((await r.json()) as any).candidates[0].content.parts[0].text).toBe("hi from vertex");
    const model = calls.find((c) => c.url !== TOKEN_URI)!;
    expect(model.url).toBe("https://us-east5-aiplatform.googleapis.com/v1/projects/test-project/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent");
    expect(JSON.parse(model.body)).toEqual({ contents: [{ role: "user", parts: [{ text: "hi" }] }], systemInstruction: { parts: [{ text: "be brief" }] } });
    await genaiSettled("vertex/gemini-2.5-flash", "generateContent", body, key, { env: vars });
    expect(tokens).toHaveLength(1);
    expect(calls.filter((c) => c.url === TOKEN_URI)).toHaveLength(1);
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(JSON.parse(row!.attempts_json as string)[0]).toMatchObject({ target: "vertex/gemini-2.5-flash", credential: "default", status: 200 });
  });

  it("a token close to expiry is renewed; the global location has no regional host", async () => {
    const { tokens, calls } = vertexUpstream((c) => sseResponse([`data: ${JSON.stringify(geminiText(c.url))}\r\n\r\n`]), 120);
    for (let i = 0; i < 2; i++) {
      const r = await genaiSettled("vertex/gemini-2.5-flash", "streamGenerateContent", textRequest("x"), key, { env: { ...vars, VERTEX_LOCATION: "global" }, query: "?alt=sse" });
      expect(r.status).toBe(200);
    }
    expect(tokens).toHaveLength(2);
    expect(calls.at(-1)!.url).toBe("https://aiplatform.googleapis.com/v1/projects/test-project/locations/global/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  });

  it("Claude: rawPredict with vertex's anthropic_version and no model in the body; streamRawPredict translated, tool call whole", async () => {
    const claude = "claude-sonnet-4-5@20250929";
    const ev = (type: string, o: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...o })}\n\n`;
    const { calls } = vertexUpstream((c) => {
      const b = JSON.parse(c.body);
      if (!b.stream) {
        return Response.json({
          id: "msg_v", type: "message", role: "assistant", model: claude, stop_reason: "tool_use",
          content: [{ type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } }], usage: { input_tokens: 10, output_tokens: 5 },
        });
      }
      return sseResponse([
        ev("message_start", { message: { id: "msg_s", model: claude, usage: { input_tokens: 10, output_tokens: 1 } } }),
        ev("content_block_start", { index: 0, content_block: { type: "tool_use", id: "toolu_2", name: "get_weather", input: {} } }),
        ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: '{"city":' } }),
        ev("content_block_delta", { index: 0, delta: { type: "input_json_delta", partial_json: '"Paris"}' } }),
        ev("content_block_stop", { index: 0 }),
        ev("message_delta", { delta: { stop_reason: "tool_use" }, usage: { output_tokens: 7 } }),
        ev("message_stop", {}),
      ]);
    });
    const r = await genaiSettled(`vertex/${claude}`, "generateContent", toolRequest(), key, { env: vars });
    expect(((await r.json()) as any).candidates[0].content.parts).toEqual([{ functionCall: { id: "toolu_1", name: "get_weather", args: { city: "Paris" } } }]);
    const sent = calls.filter((c) => c.url !== TOKEN_URI);
    expect(sent[0]!.url).toBe(`https://us-east5-aiplatform.googleapis.com/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/${encodeURIComponent(claude)}:rawPredict`);
    const body = JSON.parse(sent[0]!.body);
    expect(body.anthropic_version).toBe("vertex-2023-10-16");
    expect(body.model).toBeUndefined();
    expect(body.tools[0].name).toBe("get_weather");

    const s = await genaiSettled(`vertex/${claude}`, "streamGenerateContent", toolRequest(), key, { env: vars, query: "?alt=sse" });
    const chunks = (await readSse(s)) as any[];
    expect(calls.at(-1)!.url).toMatch(/:streamRawPredict$/);
    expect(chunks[0].candidates[0].content.parts).toEqual([{ functionCall: { id: "toolu_2", name: "get_weather", args: { city: "Paris" } } }]);
    expect(chunks.at(-1).usageMetadata).toEqual({ promptTokenCount: 10, candidatesTokenCount: 7, totalTokenCount: 17 });
  });

  it("a token endpoint refusing one service account cools it: the pool's other account serves the same call", async () => {
    const other = await serviceAccount(TOKEN_URI, "other@test-project.iam.gserviceaccount.com");
    const stranger = await serviceAccount(TOKEN_URI, "stranger@test-project.iam.gserviceaccount.com");
    const { calls } = vertexUpstream(() => Response.json(geminiText("ok")));
    // The endpoint knows `account`; the stranger's key is not the one it verifies against.
    const poolVars = {
      VERTEX_LOCATION: "us-central1", SA_STRANGER: stranger.json, SA_GOOD: account.json, SA_OTHER: other.json,
      PROVIDER_KEYS: JSON.stringify({ vertex: [{ label: "stranger", secret: "SA_STRANGER", weight: 1000 }, { label: "good", secret: "SA_GOOD" }] }),
    };
    vi.spyOn(Math, "random").mockReturnValue(0.5); // the heavy credential first, every run
    const r = await genaiSettled("vertex/gemini-2.5-flash", "generateContent", textRequest("x"), key, { env: poolVars });
    expect(r.status).toBe(200);
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(JSON.parse(row!.attempts_json as string).map((a: any) => [a.credential, a.status, a.reason])).toEqual([
      ["stranger", 502, "credential refused"],
      ["good", 200, "ok"],
    ]);
    // Cooling now: the next call goes straight to the good one, whatever the weights say.
    const before = calls.length;
    await genaiSettled("vertex/gemini-2.5-flash", "generateContent", textRequest("x"), key, { env: poolVars });
    expect(calls.slice(before).map((c) => c.url === TOKEN_URI)).toEqual([false]);
  });

  it("a token endpoint that answers without a token is a transient failure: nothing goes to the model, the fallback serves", async () => {
    const calls = mockUpstream((c) => (c.url === TOKEN_URI ? Response.json({ token_type: "Bearer" }) : Response.json(geminiText("never"))));
    const r = await genaiSettled("vertex/gemini-2.5-flash", "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, { env: vars });
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(calls.every((c) => c.url === TOKEN_URI)).toBe(true);
    expect(await usageRow(r.headers.get("x-edgeway-request-id")).then((row) => JSON.parse(row!.attempts_json as string)[0])).toMatchObject({
      credential: "default", status: 502, reason: "network error",
    });
  });

  it("an upstream error echoing the service account's private key or key file never shows them", async () => {
    const pem = JSON.parse(account.json).private_key as string;
    vertexUpstream(() => Response.json({ error: { code: 400, message: `bad: ${pem} and ${account.json}`, status: "INVALID_ARGUMENT" } }, { status: 400 }));
    const r = await genaiSettled("vertex/gemini-2.5-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(r.status).toBe(400);
    const text = await r.text();
    expect(text).not.toContain("PRIVATE KEY");
    expect(JSON.parse(text).error.message).toBe("vertex: bad: [redacted] and [redacted]");
  });

  it("an express-mode API key reaches Google's models with x-goog-api-key, and is refused for Claude", async () => {
    const calls = mockUpstream(() => Response.json(geminiText("express")));
    const vars = { VERTEX_API_KEY: "AQ.express-key-123456" };
    const r = await genaiSettled("vertex/gemini-2.5-flash", "generateContent", textRequest("x"), key, { env: vars });
    expect(r.status).toBe(200);
    expect(calls[0]!.url).toBe("https://aiplatform.googleapis.com/v1/publishers/google/models/gemini-2.5-flash:generateContent");
    expect(calls[0]!.headers.get("x-goog-api-key")).toBe("AQ.express-key-123456");
    const c = await genaiSettled("vertex/claude-sonnet-4-5@20250929", "generateContent", textRequest("x"), key, { env: vars });
    expect(c.status).toBe(503);
    expect(((await c.json()) as any).error.message).toBe('provider "vertex" has no credential for model "claude-sonnet-4-5@20250929"');
  });
});

describe("bedrock", () => {
  const AWS = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", sessionToken: "session-token-xyz" };
  const vars = { AWS_ACCESS_KEY_ID: AWS.accessKeyId, AWS_SECRET_ACCESS_KEY: AWS.secretAccessKey, AWS_SESSION_TOKEN: AWS.sessionToken, BEDROCK_REGION: "eu-west-1" };
  const MODEL = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0";
  const converse = {
    output: { message: { role: "assistant", content: [{ text: "Checking." }, { toolUse: { toolUseId: "tooluse_a", name: "get_weather", input: { city: "Paris" } } }] } },
    stopReason: "tool_use", usage: { inputTokens: 20, outputTokens: 9, totalTokens: 29, cacheReadInputTokens: 4 }, metrics: { latencyMs: 100 },
  };

  it("Converse: SigV4-signed (session token included), Gemini → Converse body, tool call back as functionCall", async () => {
    const calls = mockUpstream(async (c) => {
      const why = await checkSigV4({ method: c.method, url: c.url, headers: c.headers, body: c.body }, AWS, "bedrock", "eu-west-1");
      return why ? Response.json({ message: why }, { status: 403 }) : Response.json(converse);
    });
    const body = toolRequest({ systemInstruction: { parts: [{ text: "be brief" }] }, generationConfig: { maxOutputTokens: 100, temperature: 0.2, stopSequences: ["END"] } });
    const r = await genaiSettled(`bedrock/${MODEL}`, "generateContent", body, key, { env: vars });
    expect(r.status).toBe(200);
    expect(calls[0]!.url).toBe(`https://bedrock-runtime.eu-west-1.amazonaws.com/model/${encodeURIComponent(MODEL)}/converse`);
    expect(JSON.parse(calls[0]!.body)).toEqual({
      messages: [{ role: "user", content: [{ text: "weather in Paris?" }] }],
      system: [{ text: "be brief" }],
      inferenceConfig: { maxTokens: 100, temperature: 0.2, stopSequences: ["END"] },
      toolConfig: { tools: [{ toolSpec: { name: "get_weather", inputSchema: { json: { type: "object", properties: { city: { type: "string" } } } } } }] },
    });
    expect(await r.json()).toEqual({
      candidates: [{ content: { role: "model", parts: [{ text: "Checking." }, { functionCall: { id: "tooluse_a", name: "get_weather", args: { city: "Paris" } } }] }, finishReason: "STOP", index: 0 }],
      modelVersion: MODEL,
      usageMetadata: { promptTokenCount: 24, candidatesTokenCount: 9, cachedContentTokenCount: 4, totalTokenCount: 33 },
    });
  });

  it("ConverseStream: event-stream frames, split anywhere, decoded to Gemini chunks; the tool result goes back as toolResult", async () => {
    const bytes = concatBytes(converseToolStream("Let me check.", { id: "tooluse_b", name: "get_weather", input: { city: "Paris" } }));
    const calls = mockUpstream(async (c) => {
      const why = await checkSigV4({ method: c.method, url: c.url, headers: c.headers, body: c.body }, AWS, "bedrock", "eu-west-1");
      if (why) return Response.json({ message: why }, { status: 403 });
      // Frames cut at odd places, as a network would.
      return new Response(new ReadableStream({
        start(ctl) {
          for (let i = 0; i < bytes.length; i += 37) ctl.enqueue(bytes.slice(i, i + 37));
          ctl.close();
        },
      }), { headers: { "content-type": "application/vnd.amazon.eventstream" } });
    });
    const history = {
      contents: [
        { role: "user", parts: [{ text: "weather?" }] },
        { role: "model", parts: [{ functionCall: { id: "tooluse_0", name: "get_weather", args: { city: "Oslo" } } }] },
        { role: "user", parts: [{ functionResponse: { id: "tooluse_0", name: "get_weather", response: { temp_c: 3 } } }] },
      ],
      tools: [WEATHER],
    };
    const r = await genaiSettled(`bedrock/${MODEL}`, "streamGenerateContent", history, key, { env: vars, query: "?alt=sse" });
    expect(calls[0]!.url).toMatch(/\/converse-stream$/);
    expect(calls[0]!.headers.get("accept")).toBe("application/vnd.amazon.eventstream");
    expect(JSON.parse(calls[0]!.body).messages).toEqual([
      { role: "user", content: [{ text: "weather?" }] },
      { role: "assistant", content: [{ toolUse: { toolUseId: "tooluse_0", name: "get_weather", input: { city: "Oslo" } } }] },
      { role: "user", content: [{ toolResult: { toolUseId: "tooluse_0", content: [{ json: { temp_c: 3 } }] } }] },
    ]);
    const chunks = (await readSse(r)) as any[];
    expect(chunks.flatMap((c) => c.candidates[0].content.parts)).toEqual([
      { text: "Let" }, { text: " me" }, { text: " check." },
      { functionCall: { id: "tooluse_b", name: "get_weather", args: { city: "Paris" } } },
    ]);
    expect(chunks.at(-1)).toMatchObject({ candidates: [{ finishReason: "STOP" }], usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 8 } });
    const row = await usageRow(r.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ provider: "bedrock", input_tokens: 12, output_tokens: 8, outcome: "ok" });
  });

  it("a Bedrock API key goes as a bearer token; an upstream error never shows any secret of the pool", async () => {
    const calls = mockUpstream((c) => Response.json({ message: `The security token included in the request is invalid: ${c.headers.get("authorization")} / ${AWS.secretAccessKey}` }, { status: 400, headers: { "x-amzn-ErrorType": "ValidationException" } }));
    const r = await genaiSettled(`bedrock/${MODEL}`, "generateContent", textRequest("x"), key, {
      env: { ...vars, BRK_KEY: "ABSKbedrock-api-key-0123456789", PROVIDER_KEYS: JSON.stringify({ bedrock: [{ label: "api", secret: "BRK_KEY" }, { label: "aws", access_key_id_secret: "AWS_ACCESS_KEY_ID", secret_access_key_secret: "AWS_SECRET_ACCESS_KEY", models: ["none-*"] }] }) },
    });
    expect(calls[0]!.headers.get("authorization")).toBe("Bearer ABSKbedrock-api-key-0123456789");
    expect(r.status).toBe(400);
    const text = await r.text();
    expect(text).not.toContain("ABSKbedrock-api-key");
    expect(text).not.toContain(AWS.secretAccessKey);
    expect(JSON.parse(text).error.message).toBe("bedrock: The security token included in the request is invalid: Bearer [redacted] / [redacted]");
  });
});

describe("azure", () => {
  const vars = { AZURE_OPENAI_API_KEY: "azure-key-0123456789abcdef", AZURE_OPENAI_RESOURCE: "contoso-east", AZURE_OPENAI_DEPLOYMENTS: "gpt4o-prod" };

  it("deployment in the path, api-version in the query, api-key header; stream with a tool call", async () => {
    const chunk = (delta: unknown, finish: string | null = null) => `data: ${JSON.stringify({ id: "c", model: "gpt-4o", choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
    const calls = mockUpstream(() => sseResponse([
      chunk({ role: "assistant", content: "" }),
      chunk({ tool_calls: [{ index: 0, id: "call_az", type: "function", function: { name: "get_weather", arguments: "" } }] }),
      chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Paris"}' } }] }),
      chunk({}, "tool_calls"),
      `data: ${JSON.stringify({ id: "c", choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } })}\n\n`,
      "data: [DONE]\n\n",
    ]));
    const r = await genaiSettled("azure/gpt4o-prod", "streamGenerateContent", toolRequest({ generationConfig: { maxOutputTokens: 50 } }), key, { env: vars, query: "?alt=sse" });
    expect(calls[0]!.url).toBe("https://contoso-east.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
    expect(calls[0]!.headers.get("api-key")).toBe(vars.AZURE_OPENAI_API_KEY);
    expect(calls[0]!.headers.get("authorization")).toBeNull();
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ stream: true, stream_options: { include_usage: true }, max_completion_tokens: 50 });
    const chunks = (await readSse(r)) as any[];
    expect(chunks.flatMap((c) => c.candidates[0].content.parts)).toEqual([{ functionCall: { id: "call_az", name: "get_weather", args: { city: "Paris" } } }]);
    expect(chunks.at(-1)).toMatchObject({ candidates: [{ finishReason: "STOP" }], usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 4 } });
  });

  it("an older api-version gets max_tokens and no stream_options; a credential may name its own resource", async () => {
    const calls = mockUpstream(() => Response.json({ id: "x", choices: [{ index: 0, message: { content: "hi" }, finish_reason: "stop" }] }));
    const r = await genaiSettled("azure/gpt4o-prod", "generateContent", textRequest("x", { generationConfig: { maxOutputTokens: 5 } }), key, {
      env: { ...vars, AZURE_OPENAI_API_VERSION: "2024-06-01", PROVIDER_KEYS: JSON.stringify({ azure: [{ label: "west", secret: "AZURE_OPENAI_API_KEY", resource: "contoso-west" }] }) },
    });
    expect(r.status).toBe(200);
    expect(calls[0]!.url).toBe("https://contoso-west.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-06-01");
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ max_tokens: 5 });
  });
});

describe("workers-ai (fake AI binding)", () => {
  const MODEL = "@cf/meta/llama-3.3-70b-instruct-fp8-fast";
  function fakeAi(answer: (model: string, inputs: any) => unknown) {
    const seen: { model: string; inputs: any; signal?: AbortSignal }[] = [];
    return {
      seen,
      AI: {
        async run(model: string, inputs: any, options?: { signal?: AbortSignal }) {
          seen.push({ model, inputs, signal: options?.signal });
          return answer(model, inputs);
        },
      },
    };
  }
  const sseStream = (events: unknown[]) => {
    const enc = new TextEncoder();
    return new ReadableStream({
      start(c) {
        for (const e of events) c.enqueue(enc.encode(`data: ${typeof e === "string" ? e : JSON.stringify(e)}\n\n`));
        c.close();
      },
    });
  };

  it("is hidden and unavailable without the binding", async () => {
    const r = await genaiSettled(`workers-ai/${MODEL}`, "generateContent", textRequest("x"), key);
    expect(r.status).toBe(503);
  });

  it("native answers: messages and tools in, tool_calls back as functionCall parts", async () => {
    const ai = fakeAi(() => ({ response: null, tool_calls: [{ name: "get_weather", arguments: { city: "Paris" } }], usage: { prompt_tokens: 30, completion_tokens: 6, total_tokens: 36 } }));
    const r = await genaiSettled(`workers-ai/${MODEL}`, "generateContent", toolRequest({ systemInstruction: "be brief" }), key, { env: { AI: ai.AI } as never });
    expect(r.status).toBe(200);
    expect(ai.seen[0]!.model).toBe(MODEL);
    expect(ai.seen[0]!.signal).toBeInstanceOf(AbortSignal);
    expect(ai.seen[0]!.inputs).toEqual({
      messages: [{ role: "system", content: "be brief" }, { role: "user", content: "weather in Paris?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    });
    expect(await r.json()).toEqual({
      candidates: [{ content: { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }] }, index: 0, finishReason: "STOP" }],
      usageMetadata: { promptTokenCount: 30, candidatesTokenCount: 6, totalTokenCount: 36 },
    });
  });

  it("streams: native text events, a whole tool call, usage last; OpenAI-shaped chunks of other models too", async () => {
    const ai = fakeAi((_m, inputs) => {
      expect(inputs.stream).toBe(true);
      return sseStream([{ response: "Let", p: "x" }, { response: " me see." }, { response: "", tool_calls: [{ name: "get_weather", arguments: '{"city":"Paris"}' }] }, { response: "", usage: { prompt_tokens: 5, completion_tokens: 3, total_tokens: 8 } }, "[DONE]"]);
    });
    const r = await genaiSettled(`workers-ai/${MODEL}`, "streamGenerateContent", toolRequest(), key, { env: { AI: ai.AI } as never, query: "?alt=sse" });
    const chunks = (await readSse(r)) as any[];
    expect(chunks.flatMap((c) => c.candidates?.[0]?.content?.parts ?? [])).toEqual([
      { text: "Let" }, { text: " me see." }, { functionCall: { name: "get_weather", args: { city: "Paris" } } },
    ]);
    expect(chunks.at(-1)).toMatchObject({ candidates: [{ finishReason: "STOP" }], usageMetadata: { promptTokenCount: 5, candidatesTokenCount: 3, totalTokenCount: 8 } });

    const oai = fakeAi(() => sseStream([
      { id: "c", choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] },
      { id: "c", choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 2, completion_tokens: 1, total_tokens: 3 } },
      "[DONE]",
    ]));
    const s = await genaiSettled("workers-ai/@cf/openai/gpt-oss-120b", "streamGenerateContent", textRequest("x"), key, { env: { AI: oai.AI } as never, query: "?alt=sse" });
    const out = (await readSse(s)) as any[];
    expect(out[0].candidates[0].content.parts).toEqual([{ text: "Hi" }]);
    expect(out.at(-1)).toMatchObject({ candidates: [{ finishReason: "STOP" }], usageMetadata: { totalTokenCount: 3 } });
  });

  it("a binding error maps to a status: capacity is a 429 that falls back, bad input a 400", async () => {
    const busy = fakeAi(() => { throw new Error("3040: Capacity temporarily exceeded, please try again."); });
    const r = await genaiSettled(`workers-ai/${MODEL}`, "generateContent", textRequest("x", { fallbacks: ["mock/echo"] }), key, { env: { AI: busy.AI } as never });
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    const bad = fakeAi(() => { throw new Error("5006: Error: required properties at '/' are 'messages'"); });
    const b = await genaiSettled(`workers-ai/${MODEL}`, "generateContent", textRequest("x"), key, { env: { AI: bad.AI } as never });
    expect(b.status).toBe(400);
    expect(((await b.json()) as any).error.message).toBe("workers-ai: 5006: Error: required properties at '/' are 'messages'");
  });

  it("models list shows each configured backend's models", async () => {
    const ai = fakeAi(() => ({}));
    const res = await worker.fetch(new Request("https://gw.test/genai/v1beta/models", { headers: { "x-goog-api-key": key } }), { ...env, AI: ai.AI, VERTEX_API_KEY: "AQ.x-1234567890", AZURE_OPENAI_API_KEY: "k", AZURE_OPENAI_RESOURCE: "r", AZURE_OPENAI_DEPLOYMENTS: "d1,d2", AWS_BEARER_TOKEN_BEDROCK: "b" } as never, createExecutionContext());
    const names = ((await res.json()) as { models: { name: string }[] }).models.map((m) => m.name);
    expect(names).toEqual(expect.arrayContaining([
      `models/workers-ai/${MODEL}`, "models/azure/d1", "models/azure/d2", "models/bedrock/amazon.nova-pro-v1:0", "models/vertex/gemini-2.5-flash",
    ]));
    // The express key serves Google's models only: Vertex's Claude is not listed.
    expect(names.some((n) => n.startsWith("models/vertex/claude"))).toBe(false);
  });
});
