/**
 * Every code block in the README and in every docs/*.md page, run as written against a gateway started the way `npm start` starts it (no
 * provider key, the mock provider on, a key named "demo"): shell examples through bash and curl, the SDK example
 * through node, the config examples through a gateway (or a dry-run deploy) given that config. Commands that need
 * a Cloudflare account are checked for what can be checked offline. Only `http://127.0.0.1:8787` is swapped for
 * the test gateway's address. A code block this file does not know fails the test, so a new example cannot go
 * untested.
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, mockUpstream, startGateway, type Gateway } from "./harness";

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, "../..");
/** The README and the docs pages: one set of rules, one list of blocks. */
const pages = ["README.md", ...readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`)];
const blocks = pages.flatMap((page) =>
  [...readFileSync(path.join(root, page), "utf8").matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ page, lang: m[1]!, code: m[2]! })),
);
const LOCAL = "http://127.0.0.1:8787";

type Kind = "curl" | "sdk" | "compatible-config" | "key-pools" | "ai-binding" | "commands" | "deploy" | "account" | "diagram" | "prometheus";
/** Lines of a shell block without comments and blank lines. */
const commandsOf = (code: string) =>
  code
    .split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter(Boolean);
function kindOf(b: { lang: string; code: string }): Kind | undefined {
  if (b.lang === "sh" && b.code.includes(`curl`) && b.code.includes(LOCAL)) return "curl";
  if (b.lang === "ts" && b.code.includes("@google/genai")) return "sdk";
  if (b.lang === "toml" && b.code.includes("OPENAI_COMPATIBLE_PROVIDERS")) return "compatible-config";
  if (b.lang === "toml" && b.code.includes("PROVIDER_KEYS")) return "key-pools";
  if (b.lang === "toml" && /^\[ai\]$/m.test(b.code)) return "ai-binding";
  if (b.lang === "sh" && commandsOf(b.code)[0] === "npx wrangler login") return "deploy";
  // Commands against a Cloudflare account (secrets of a deployed Worker): checked offline for the names they use.
  if (b.lang === "sh" && commandsOf(b.code).every((c) => c.startsWith("npx wrangler "))) return "account";
  if (b.lang === "sh" && /^npm (install|start|test|run)\b/m.test(b.code)) return "commands";
  if (b.lang === "" && b.code.includes("→")) return "diagram";
  // A Prometheus scrape job: scraped as Prometheus would, with a viewer token in its credentials file.
  if (b.lang === "yaml" && b.code.includes("scrape_configs:")) return "prometheus";
  return undefined;
}
const byKind = (k: Kind) => blocks.filter((b) => kindOf(b) === k);

let gw: Gateway;
let demoKey: string;
const scratch = path.join(root, ".wrangler", "readme-examples");

beforeAll(async () => {
  // As `npm start`: no provider keys, the mock on (MOCK_PROVIDER, which `npm start` writes to .dev.vars).
  gw = await startGateway({ MOCK_PROVIDER: "on" });
  demoKey = (await gw.createKey({ name: "demo" })).key;
  mkdirSync(scratch, { recursive: true });
});

afterAll(async () => {
  await gw?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const asWritten = (code: string) => code.replaceAll(LOCAL, gw.url);

describe("README and docs examples, as written", () => {
  it("every code block is one this file runs or checks", () => {
    expect(pages).toContain("docs/deploy.md");
    expect(blocks.length).toBeGreaterThan(5);
    expect(blocks.filter((b) => !kindOf(b)).map((b) => `${b.page}: ${b.code.slice(0, 80)}`)).toEqual([]);
    expect(byKind("curl").length).toBeGreaterThanOrEqual(2);
    expect(byKind("sdk")).toHaveLength(1);
  });

  it("the curl examples answer from the mock, streams included, and the fallback example falls back", async () => {
    const outputs: string[] = [];
    for (const b of byKind("curl")) {
      // ADMIN_TOKEN as `npm start` keeps it in .dev.vars (the admin examples send it).
      const { stdout } = await run("bash", ["-euo", "pipefail", "-c", asWritten(b.code)], { env: { ...process.env, EDGEWAY_KEY: demoKey, ADMIN_TOKEN } });
      expect(stdout).not.toMatch(/"error"/);
      outputs.push(stdout);
    }
    const all = outputs.join("\n");
    // generateContent, then the SSE stream word by word.
    expect(all).toContain('"text":"This is the edgeway mock model. You said: hello"');
    expect(all).toMatch(/^data: \{"candidates"/m);
    // The fallback example: what the README says the headers show.
    const fallback = outputs.find((o) => /^HTTP\/1\.1 200/m.test(o))!;
    expect(fallback).toMatch(/^x-edgeway-provider: mock\r?$/im);
    expect(fallback).toMatch(/^x-edgeway-model: echo\r?$/im);
    // The key asking about itself, and an admin token minted with the root token.
    expect(all).toMatch(/"name":"demo".*"rate_limit":\{"rpm":null,"tpm":null\}/);
    expect(all).toMatch(/"token":"sk-ew-admin-[0-9A-Za-z]{40}"/);
    expect(all).toMatch(/"role":"viewer"/);
  });

  it("the SDK example prints both answers (the second through its fallback)", async () => {
    const file = path.join(scratch, "sdk-example.mjs");
    writeFileSync(file, asWritten(byKind("sdk")[0]!.code));
    const { stdout, stderr } = await run(process.execPath, [file], { cwd: root, env: { ...process.env, EDGEWAY_KEY: demoKey } });
    expect(stderr).toBe("");
    expect(stdout).toBe("This is the edgeway mock model. You said: hello\nThis is the edgeway mock model. You said: hi");
  });

  it("the OpenAI-compatible hosts config is valid as written: its hosts are served", async () => {
    const [config] = byKind("compatible-config");
    const value = /OPENAI_COMPATIBLE_PROVIDERS = '''([\s\S]*?)'''/.exec(config!.code)![1]!;
    const other = await startGateway({ OPENAI_COMPATIBLE_PROVIDERS: value, GROQ_API_KEY: "gsk-test" });
    try {
      const { key } = await other.createKey();
      const models = (await (await fetch(`${other.url}/genai/v1beta/models`, { headers: { "x-goog-api-key": key } })).json()) as { models: { name: string }[] };
      // An invalid list would be ignored as a whole; groq (its key set) lists the model the config names.
      expect(models.models.map((m) => m.name)).toContain("models/groq/llama-3.3-70b-versatile");
    } finally {
      await other.stop();
    }
  });

  it("without GEMINI_API_KEY, as the Errors table says: the lists answer 200 from the gateway's records, the rest 503", async () => {
    const h = { "x-goog-api-key": demoKey };
    // Gemini lists batches as `operations`.
    for (const [list, field] of [["files", "files"], ["cachedContents", "cachedContents"], ["batches", "operations"]]) {
      const r = await fetch(`${gw.url}/genai/v1beta/${list}`, { headers: h });
      expect(r.status, list).toBe(200);
      expect(await r.json()).toEqual({ [field!]: [] });
    }
    const upload = await fetch(`${gw.url}/genai/upload/v1beta/files`, {
      method: "POST",
      headers: { ...h, "x-goog-upload-protocol": "resumable", "x-goog-upload-command": "start", "x-goog-upload-header-content-length": "5", "content-type": "application/json" },
      body: JSON.stringify({ file: { displayName: "a" } }),
    });
    expect(upload.status).toBe(503);
    expect(await upload.json()).toMatchObject({ error: { status: "UNAVAILABLE", message: expect.stringContaining("GEMINI_API_KEY") } });
    const get = await fetch(`${gw.url}/genai/v1beta/files/abc`, { headers: h });
    expect([404, 503]).toContain(get.status);
  });

  it("the Prometheus scrape job reads the metrics as written, with a viewer token from its credentials file", async () => {
    const jobs = byKind("prometheus");
    expect(jobs.length).toBeGreaterThan(0);
    const viewer = (await (await gw.admin("/tokens", { method: "POST", body: { name: "prometheus", role: "viewer" } })).json()) as { token: string };
    for (const { code } of jobs) {
      const field = (name: string) => new RegExp(`^\\s*${name}: (.+)$`, "m").exec(code)?.[1]?.trim();
      expect(field("type")).toBe("Bearer");
      expect(field("credentials_file")).toBeTruthy();
      const target = /targets: \["([^"]+)"\]/.exec(code)![1]!;
      const url = `${field("scheme")}://${target}${field("metrics_path")}`.replace(new URL(LOCAL).host, new URL(gw.url).host);
      const r = await fetch(url, { headers: { authorization: `Bearer ${viewer.token}` } });
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("text/plain");
      expect(await r.text()).toContain("# TYPE edgeway_requests_total counter");
    }
  });

  it("the npm commands it names exist", () => {
    const scripts = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts as Record<string, string>;
    const named = byKind("commands").flatMap((b) => [...b.code.matchAll(/npm (start|test|run ([\w:-]+))/g)].map((m) => m[2] ?? m[1]!));
    expect(named.length).toBeGreaterThan(0);
    for (const s of named) expect(scripts[s], s).toBeDefined();
  });

  it("the key pools config is valid as written: its Gemini credentials serve calls, under their labels", async () => {
    const value = /PROVIDER_KEYS = '\'\'([\s\S]*?)'\'\'/.exec(byKind("key-pools")[0]!.code)![1]!;
    const gemini = await mockUpstream((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      // Names the key it was called with without echoing it (a key in an answer's text is redacted).
      const named = String(req.headers["x-goog-api-key"]).replace("upstream-key-", "served by ");
      res.end(JSON.stringify({ candidates: [{ content: { role: "model", parts: [{ text: named }] }, finishReason: "STOP", index: 0 }] }));
    });
    // The secrets the example names for Gemini; the other providers' entries name secrets not set here (left out).
    const other = await startGateway({ PROVIDER_KEYS: value, GEMINI_KEY_A: "upstream-key-a", GEMINI_KEY_B: "upstream-key-b", GEMINI_BASE_URL: gemini.url });
    try {
      const { key } = await other.createKey();
      const r = await fetch(`${other.url}/genai/v1beta/models/gemini-2.5-flash:generateContent`, {
        method: "POST",
        headers: { "x-goog-api-key": key, "content-type": "application/json" },
        body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hi" }] }] }),
      });
      expect(r.status).toBe(200);
      const served = ((await r.json()) as any).candidates[0].content.parts[0].text;
      expect(["served by a", "served by b"]).toContain(served);
      const row = await other.usageRow(r.headers.get("x-edgeway-request-id"));
      expect(JSON.stringify(row.attempts_json)).toContain(served === "served by a" ? "proj-a" : "proj-b");
    } finally {
      await other.stop();
      await gemini.close();
    }
  });

  it("the Workers AI binding snippet is accepted by a deploy (dry run) and binds AI", async () => {
    const snippet = byKind("ai-binding")[0]!.code;
    // Beside wrangler.toml, so its relative paths (main, assets, migrations) resolve the same.
    const config = path.join(root, `wrangler.readme-ai-${process.pid}.toml`);
    writeFileSync(config, `${readFileSync(path.join(root, "wrangler.toml"), "utf8")}\n${snippet}`);
    const outdir = mkdtempSync(path.join(tmpdir(), "edgeway-readme-ai-"));
    try {
      const { stdout } = await run(path.join(root, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--config", config, "--outdir", outdir], {
        cwd: root,
        env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" },
      });
      expect(stdout).toMatch(/env\.AI\b/);
    } finally {
      rmSync(config, { force: true });
      rmSync(outdir, { recursive: true, force: true });
    }
  }, 120_000);

  it("account commands put only secrets the gateway reads", () => {
    const src = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? src(path.join(dir, e.name)) : [readFileSync(path.join(dir, e.name), "utf8")]));
    const source = src(path.join(root, "src")).join("\n");
    const blocksWithAccount = [...byKind("account"), ...byKind("deploy")];
    expect(byKind("account").length).toBeGreaterThan(0);
    const secrets = blocksWithAccount.flatMap((b) => commandsOf(b.code).flatMap((c) => /^npx wrangler secret put (\w+)/.exec(c)?.[1] ?? []));
    expect(secrets).toContain("ADMIN_TOKEN");
    for (const name of secrets) expect(source, name).toContain(name);
  });

  it("deploy is login, secrets, then `npm run deploy` (README and docs/deploy.md): no ids to edit", () => {
    const deploys = byKind("deploy");
    expect(deploys.map((b) => b.page)).toEqual(["README.md", "docs/deploy.md"]);
    for (const b of deploys) {
      const commands = commandsOf(b.code);
      expect(commands[0], b.page).toBe("npx wrangler login");
      expect(commands, b.page).toContain("npx wrangler secret put ADMIN_TOKEN");
      expect(commands.at(-1), b.page).toBe("npm run deploy");
      expect(commands.filter((c) => !c.startsWith("npx wrangler secret put ")).length, b.page).toBe(2);
    }
    const scripts = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")).scripts as Record<string, string>;
    expect(scripts.deploy).toBe("node scripts/deploy.mjs");
  });

  it("`npm run deploy` applies the D1 migrations before the new code, and a failed migration deploys nothing", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "edgeway-deploy-"));
    // A wrangler that logs what it was asked, and fails a migration when told to.
    const log = path.join(dir, "calls.log");
    const fake = path.join(dir, "wrangler");
    writeFileSync(fake, `#!/bin/sh\necho "$*" >> "${log}"\nif [ "$1" = d1 ] && [ -n "$FAIL_MIGRATION" ]; then exit 3; fi\n`, { mode: 0o755 });
    const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
    const deployed = async (config: string, env: Record<string, string> = {}) => {
      writeFileSync(path.join(dir, "wrangler.toml"), config);
      rmSync(log, { force: true });
      const r = await run(process.execPath, [path.join(root, "scripts/deploy.mjs"), "--minify"], { cwd: dir, env: { ...process.env, WRANGLER: fake, ...env } }).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
      return { code: r, calls: readFileSync(log, "utf8").trim().split("\n") };
    };
    try {
      const withId = toml.replace(/^database_name = "edgeway"$/m, '$&\ndatabase_id = "00000000-0000-0000-0000-000000000000"');
      expect(withId).not.toBe(toml);
      // An upgrade: migrations first.
      expect(await deployed(withId)).toEqual({ code: 0, calls: ["d1 migrations apply DB --remote", "deploy --minify"] });
      // A migration that fails leaves the old code live.
      expect(await deployed(withId, { FAIL_MIGRATION: "1" })).toEqual({ code: 3, calls: ["d1 migrations apply DB --remote"] });
      // The first deploy (no database yet): the deploy creates it, the migrations follow.
      expect(await deployed(toml)).toEqual({ code: 0, calls: ["deploy --minify", "d1 migrations apply DB --remote"] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the remote migration's command resolves `DB` in the id-less wrangler.toml", async () => {
    const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
    expect(toml).not.toMatch(/^\s*(id|database_id)\s*=/m);
    // The same migration command, against a local database (no account): the id-less config resolves `DB`.
    const dir = mkdtempSync(path.join(tmpdir(), "edgeway-readme-d1-"));
    try {
      const { stdout } = await run(path.join(root, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", dir], {
        cwd: root,
        env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" },
      });
      expect(stdout).toMatch(/0001_usage\.sql\s*│\s*✅/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
