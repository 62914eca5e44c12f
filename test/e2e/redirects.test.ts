/**
 * An upstream that redirects must not get the gateway to re-send the provider key or the prompt anywhere: every
 * upstream call is made with `redirect: "manual"` and a 3xx is an upstream error (502, which may fall back). Real
 * sockets: the upstream answers 301/302/303/307/308 pointing at a second loopback server that must receive nothing.
 * Every backend that fetches with a credential is covered, Vertex's token endpoint (the signed assertion) included.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { serviceAccount } from "../helpers/google";
import { mockUpstream, startGateway, type Gateway, type MockUpstream } from "./harness";

const SECRETS = {
  gemini: "gemini-secret-redirect-0123456789", openai: "openai-secret-redirect-0123456789", anthropic: "anthropic-secret-redirect-0123456789",
  azure: "azure-secret-redirect-0123456789", bedrock: "bedrock-secret-redirect-0123456789",
};
let status = 307;
let upstream: MockUpstream;
let elsewhere: MockUpstream;
let gw: Gateway;
let key: string;

beforeAll(async () => {
  elsewhere = await mockUpstream((_req, res) => void res.writeHead(200, { "content-type": "application/json" }).end("{}"));
  upstream = await mockUpstream((req, res) => void res.writeHead(status, { location: `${elsewhere.url}${req.url}` }).end());
  const account = await serviceAccount(`${upstream.url}/token`);
  gw = await startGateway({
    GEMINI_API_KEY: SECRETS.gemini, GEMINI_BASE_URL: upstream.url,
    OPENAI_API_KEY: SECRETS.openai, OPENAI_BASE_URL: upstream.url,
    ANTHROPIC_API_KEY: SECRETS.anthropic, ANTHROPIC_BASE_URL: upstream.url,
    AZURE_OPENAI_API_KEY: SECRETS.azure, AZURE_OPENAI_BASE_URL: upstream.url,
    AWS_BEARER_TOKEN_BEDROCK: SECRETS.bedrock, BEDROCK_BASE_URL: upstream.url,
    VERTEX_SERVICE_ACCOUNT: account.json, VERTEX_LOCATION: "us-central1", VERTEX_BASE_URL: upstream.url,
    EDGEWAY_RETRIES: "2", EDGEWAY_RETRY_BASE_MS: "1",
  });
  key = (await gw.createKey({ name: "redirects" })).key;
});
afterAll(async () => {
  await gw?.stop();
  await upstream?.close();
  await elsewhere?.close();
});
beforeEach(() => {
  upstream.requests.length = 0;
  elsewhere.requests.length = 0;
});

const MODELS = [
  "gemini-2.0-flash", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "azure/chat-prod",
  "bedrock/us.anthropic.claude-haiku-4-5-20251001-v1:0",
  // The token exchange is what redirects: the signed assertion must not follow.
  "vertex/gemini-2.5-flash",
];

function call(model: string, stream: boolean, fallbacks?: string[]) {
  const action = stream ? "streamGenerateContent?alt=sse" : "generateContent";
  return fetch(`${gw.url}/genai/v1beta/models/${model}:${action}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-goog-api-key": key },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "the prompt" }] }], ...(fallbacks ? { fallbacks } : {}) }),
  });
}

describe.each([301, 302, 303, 307, 308])("upstream answers %i", (code) => {
  beforeEach(() => {
    status = code;
  });

  it.each(MODELS.flatMap((m) => [[m, false], [m, true]] as const))("%s (stream %s): 502, nothing reaches the redirect target", async (model, stream) => {
    const r = await call(model, stream);
    expect(r.status).toBe(502);
    const body = (await r.json()) as { error: { code: number; message: string; status: string } };
    expect(body.error).toMatchObject({ code: 502, status: "UNAVAILABLE" });
    expect(body.error.message).toMatch(new RegExp(`redirect.*${code}|HTTP ${code}`));
    // One attempt: a redirect is not transient, so the same target is not asked again.
    expect(upstream.requests).toHaveLength(1);
    expect(elsewhere.requests).toEqual([]);
    const row = await gw.usageRow(r.headers.get("x-edgeway-request-id"));
    expect(row).toMatchObject({ status: 502, outcome: "error" });
  });

  it("falls back to the next target, still sending nothing to the redirect target", async () => {
    const r = await call("gemini-2.0-flash", false, ["mock/echo"]);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    expect(elsewhere.requests).toEqual([]);
  });
});
