/**
 * The operator console in a real headless Chromium, against the bundled gateway with its static assets (as
 * `wrangler deploy` ships them): sign in, create a team and a key, copy the secret, call the gateway with it,
 * find the call in Logs and on the Overview chart, rotate and revoke and see the old secrets refused. Then the
 * hostile and accessibility cases: API refusals shown verbatim, markup in names, keyboard only, phone width,
 * contrast in light and dark mode.
 *
 * `CONSOLE_SCREENSHOTS=1 npm run test:browser` also writes docs/console-*.png (the pictures of docs/console.md).
 */
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, mockUpstream, startGateway, type Gateway, type MockUpstream } from "../e2e/harness";
import { launchChromium } from "./chromium";
import { settled } from "./tabs";

const root = path.resolve(import.meta.dirname, "../..");
let gw: Gateway;
let gemini: MockUpstream;
/** An OpenAI-compatible host ("acme") that throttles every call: its credential cools, and Providers shows it. */
let acme: MockUpstream;
const ACME_SECRET = "acme-secret-value-0123456789";
let browser: Browser;
let context: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

async function shot(p: Page, name: string, fullPage = true) {
  if (!process.env.CONSOLE_SCREENSHOTS) return;
  mkdirSync(path.join(root, "docs"), { recursive: true });
  await p.screenshot({ path: path.join(root, "docs", `console-${name}.png`), fullPage });
}

/** A new tab (its own sessionStorage), signed in unless told otherwise. */
async function newPage(opts: { width?: number; height?: number; dark?: boolean; signedIn?: boolean } = {}): Promise<Page> {
  const p = await context.newPage();
  await p.setViewportSize({ width: opts.width ?? 1280, height: opts.height ?? 860 });
  if (opts.dark) await p.emulateMedia({ colorScheme: "dark" });
  p.on("pageerror", (e) => pageErrors.push(e.message));
  // The strict Content-Security-Policy must not block anything the console itself does.
  p.on("console", (m) => void (m.type() === "error" && /Content.Security.Policy/i.test(m.text()) && pageErrors.push(m.text())));
  if (opts.signedIn !== false) {
    await signIn(p);
    await p.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    await settled(p);
  }
  return p;
}

/** A page of the console, from its navigation bar. */
const nav = (p: Page, name: string) => p.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true }).click();

async function signIn(p: Page, token = ADMIN_TOKEN) {
  await p.goto(`${gw.url}/console/`);
  await p.getByLabel("Admin token").fill(token);
  await p.getByRole("button", { name: "Sign in" }).click();
}

/**
 * A page by its address (a hash change: the tab keeps its sign-in and the secrets in memory), once what it shows
 * is read for that address: nothing in it busy loading, the keys and teams read again on a page change included.
 */
const go = async (p: Page, hash: string, heading: string) => {
  await p.goto(`${gw.url}/console/${hash}`);
  await p.getByRole("heading", { name: heading, level: 1 }).waitFor();
  await settled(p, hash);
};

const PAGES = [
  ["#/overview", "Overview"],
  ["#/keys", "Keys"],
  ["#/teams", "Teams"],
  ["#/logs", "Logs"],
  ["#/resources", "Resources"],
  ["#/providers", "Providers"],
  ["#/tokens", "Tokens"],
  ["#/audit", "Audit"],
  ["#/alerts", "Alerts"],
  ["#/playground", "Playground"],
] as const;

const call = (secret: string, model = "mock/echo", body: Record<string, unknown> = {}) =>
  fetch(`${gw.url}/genai/v1beta/models/${model}:generateContent`, {
    method: "POST",
    headers: { "x-goog-api-key": secret, "content-type": "application/json" },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hello from the test" }] }], ...body }),
  });

beforeAll(async () => {
  // A Gemini upstream that is down: a call to a Gemini model falls back, and the console shows it.
  gemini = await mockUpstream((_req, res) => void res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: 503, message: "overloaded", status: "UNAVAILABLE" } })));
  acme = await mockUpstream((_req, res) => void res.writeHead(429, { "content-type": "application/json" }).end(JSON.stringify({ error: { message: "slow down", type: "rate_limit_exceeded" } })));
  gw = await startGateway({
    MOCK_PROVIDER: "on", GEMINI_API_KEY: "upstream-gemini-key", GEMINI_BASE_URL: gemini.url, EDGEWAY_RETRIES: "0",
    ACME_KEY: ACME_SECRET,
    OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([{ name: "acme", base_url: acme.url, key_secret: "ACME_KEY", models: ["acme-large"] }]),
    PROVIDER_KEYS: JSON.stringify({ acme: [{ label: "acme-main", secret: "ACME_KEY", models: ["acme-*"], weight: 2 }] }),
    PRICES: JSON.stringify({ "acme/*": { input: 1.5, output: 6 } }),
  });
  browser = await launchChromium();
  context = await browser.newContext();
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: gw.url });
  page = await newPage({ signedIn: false });
  if (process.env.CONSOLE_SCREENSHOTS) await seedHistory();
});

/**
 * For the pictures of docs/console.md only: a day of other teams' traffic written straight into the usage log, so the
 * Overview shows a day's shape rather than two calls. (The assertions filter by the key they create.)
 */
async function seedHistory() {
  const { id: team } = await (await gw.admin("/teams", { body: { name: "growth", budget: { max_usd: 40, period: "1d" } } })).json();
  const keys = [
    { id: (await gw.createKey({ name: "search-api", team_id: team, budget: { max_usd: 25, period: "1d" } })).id, team, weight: 3 },
    { id: (await gw.createKey({ name: "batch-jobs", team_id: team })).id, team, weight: 2 },
    { id: (await gw.createKey({ name: "support-bot" })).id, team: null, weight: 1 },
  ];
  const models = [
    ["gemini", "gemini-2.5-flash", 0.3, 2.5],
    ["openai", "gpt-4o-mini", 0.15, 0.6],
    ["anthropic", "claude-haiku-4-5", 1, 5],
  ] as const;
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const db = await gw.mf.getD1Database("DB");
  const insert = db.prepare(`INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action, stream, status,
    outcome, error, attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens, thinking_tokens, cost_usd, latency_ms,
    ttfb_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`);
  const hour = 3_600_000;
  const now = Date.now();
  const rows = [];
  for (let h = 23; h >= 1; h--) {
    const busy = 1 + Math.sin(((24 - h) / 24) * Math.PI * 2 - 1.2) * 0.6;
    for (const k of keys) {
      for (let i = 0; i < Math.round(6 * k.weight * busy + rand() * 4); i++) {
        const [provider, model, pin, pout] = models[Math.floor(rand() * models.length)]!;
        const failed = rand() < 0.04;
        const input = Math.round(400 + rand() * 3000);
        const output = failed ? 0 : Math.round(100 + rand() * 900);
        const cost = (input * pin + output * pout) / 1e6;
        const latency = Math.round(300 + rand() * 2500);
        const status = failed ? 503 : 200;
        const attempts = [{ target: `${provider}/${model}`, status, reason: failed ? "upstream 503" : "ok", latency_ms: latency }];
        rows.push(
          insert.bind(crypto.randomUUID(), now - h * hour + Math.floor(rand() * hour), k.id, k.team, `${provider}/${model}`, failed ? null : provider,
            failed ? null : model, "generateContent", 0, status, failed ? "error" : "ok", failed ? "upstream 503" : null, 1, failed ? null : 0,
            JSON.stringify(attempts), input, output, 0, 0, failed ? 0 : cost, latency, failed ? null : Math.round(latency * 0.4)),
        );
      }
    }
  }
  await db.batch(rows);
  // The console's charts read the rollups, which the gateway writes with its rows: these rows, rolled up as the
  // migration rolls up the rows it finds (its last two statements).
  const migration = readFileSync(path.join(root, "migrations/0008_usage_scale.sql"), "utf8");
  for (const sql of migration.split(/;\s*\n/).filter((q) => q.trim().startsWith("INSERT OR IGNORE INTO usage_"))) await db.prepare(sql).run();
}

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await gemini?.close();
  await acme?.close();
});

describe("the operator's first session", () => {
  let teamId: string;
  let keyId: string;
  let secret: string;
  let graced: string;

  it("sign-in: a wrong token shows the API's own message; the right one is kept in this tab's sessionStorage only", async () => {
    await signIn(page, "not-the-token");
    await page.getByRole("alert").getByText("admin token not valid").waitFor();
    await shot(page, "signin");
    await page.getByLabel("Admin token").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    const stored = await page.evaluate(() => ({ session: { ...sessionStorage }, local: localStorage.length, cookie: document.cookie }));
    expect(stored).toEqual({ session: { "edgeway.admin-token": ADMIN_TOKEN }, local: 0, cookie: "" });
  });

  it("creates a team with a budget", async () => {
    await nav(page, "Teams");
    await page.getByRole("button", { name: "New team" }).click();
    const dialog = page.getByRole("dialog", { name: "New team" });
    await dialog.getByLabel("Name").fill("ml-platform");
    await dialog.getByLabel("Budget (USD)").fill("5");
    await dialog.getByLabel("Budget period").selectOption("1d");
    await dialog.getByLabel("Requests per minute").fill("600");
    await dialog.getByRole("button", { name: "Create team" }).click();
    await page.getByRole("heading", { name: /Team “ml-platform”: keys/ }).waitFor();
    teamId = new URL(page.url()).hash.split("id=")[1]!;
    const team = await (await gw.admin(`/teams/${teamId}`)).json();
    expect(team).toMatchObject({ name: "ml-platform", budget: { max_usd: 5, period: "1d" }, rate_limit: { rpm: 600 } });
  });

  it("creates a key in the team; the secret is shown once, copied, and then gone from the page", async () => {
    await nav(page, "Keys");
    await page.getByRole("button", { name: "New key" }).click();
    const dialog = page.getByRole("dialog", { name: "New key" });
    await dialog.getByLabel("Name").fill("ci-bot");
    await dialog.getByLabel("Team").selectOption({ label: "ml-platform" });
    await dialog.getByLabel("Models allowed").fill("mock/*, gemini-*");
    await dialog.getByLabel("Requests per minute").fill("120");
    await dialog.getByLabel("Budget (USD)").fill("2.5");
    await dialog.getByLabel("Budget period").selectOption("1mo");
    await dialog.getByLabel("Default fallbacks").fill("mock/echo");
    await dialog.getByRole("button", { name: "Create key" }).click();

    const shown = page.getByRole("dialog", { name: "Key “ci-bot” created" });
    secret = await shown.getByLabel("Secret").inputValue();
    expect(secret).toMatch(/^sk-bf-[A-Za-z0-9]{32,}$/);
    await shown.getByRole("button", { name: "Copy" }).click();
    await shown.getByText("Copied to the clipboard.").waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    await shot(page, "new-key");
    await shown.getByRole("button", { name: "Done" }).click();

    const row = page.getByRole("row", { name: /ci-bot/ });
    await row.waitFor();
    keyId = (await row.locator(".mono.small").textContent())!;
    const record = await (await gw.admin(`/keys/${keyId}`)).json();
    expect(record).toMatchObject({ name: "ci-bot", team_id: teamId, models: ["mock/*", "gemini-*"], rate_limit: { rpm: 120, tpm: null }, budget: { max_usd: 2.5, period: "1mo" }, fallbacks: ["mock/echo"] });
    // Shown once: not in the page, nor in any storage, once the dialog is closed.
    const leftovers = await page.evaluate((s) => [document.documentElement.outerHTML.includes(s), JSON.stringify({ ...sessionStorage }).includes(s), JSON.stringify({ ...localStorage }).includes(s)], secret);
    expect(leftovers).toEqual([false, false, false]);
  });

  it("edit changes what was changed and keeps every other field (team, budget period, allow-list, fallbacks)", async () => {
    await page.getByRole("button", { name: "Edit ci-bot" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit key “ci-bot”" });
    // The form starts from the record: the team and the budget period are pre-selected (the team's option is
    // there once the directory's teams are).
    await expect.poll(() => dialog.getByLabel("Team").locator("option:checked").textContent()).toBe("ml-platform");
    expect(await dialog.getByLabel("Budget period").inputValue()).toBe("1mo");
    await dialog.getByLabel("Requests per minute").fill("240");
    // Expiry is entered in UTC.
    await dialog.getByLabel("Expires (UTC)").fill("2030-01-02T03:04");
    await dialog.getByRole("button", { name: "Save changes" }).click();
    await dialog.waitFor({ state: "detached" });
    const record = await (await gw.admin(`/keys/${keyId}`)).json();
    expect(record).toMatchObject({
      name: "ci-bot", team_id: teamId, models: ["mock/*", "gemini-*"], rate_limit: { rpm: 240, tpm: null }, budget: { max_usd: 2.5, period: "1mo" },
      fallbacks: ["mock/echo"], expires_at: "2030-01-02T03:04:00.000Z", active: true,
    });
    await page.getByRole("row", { name: /ci-bot/ }).getByText("240 req/min").waitFor();
  });

  it("the copied secret makes a call through the gateway", async () => {
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    const r = await call(copied);
    expect(r.status).toBe(200);
    expect(r.headers.get("x-edgeway-provider")).toBe("mock");
    // Its usage row is in D1 (the buffer shards write what they hold) before the console looks for it.
    await gw.usageRow(r.headers.get("x-edgeway-request-id"));
  });

  it("the playground streams an answer, shows the fallback that served it and what it cost", async () => {
    await nav(page, "Playground");
    // The key created in this tab is offered with its secret from memory.
    await expect.poll(() => page.getByLabel("Key").inputValue()).toBe(keyId);
    await page.getByLabel("Model").fill("gemini-2.5-flash");
    await page.getByLabel("Fallbacks").fill("mock/echo");
    await page.getByLabel("Prompt").fill("Show the operators a fallback");
    await page.getByRole("button", { name: "Send" }).click();
    const answer = page.locator("output.answer-text");
    await answer.getByText("This is the edgeway mock model. You said: Show the operators a fallback").waitFor();
    const served = page.getByLabel("Served by");
    await served.getByText("mock", { exact: true }).waitFor();
    expect(await served.locator("dd").allTextContents()).toEqual(["200", "mock", "echo", "2", expect.stringMatching(/.+/)]);
    // The usage row, found by the request id: both attempts and the cost.
    const cost = page.getByRole("region", { name: "What the call cost" });
    await cost.getByText("gemini/gemini-2.5-flash").first().waitFor();
    expect(await cost.locator("table tbody tr").allTextContents()).toEqual([expect.stringContaining("upstream 503"), expect.stringContaining("ok")]);
    await expect.poll(async () => (await cost.locator("dd").allTextContents()).some((t) => /^\$0\.0000\d+$/.test(t))).toBe(true);
    await shot(page, "playground");
  });

  it("Logs lists the calls newest first, filtered by key, with each call's attempts", async () => {
    await go(page, `#/logs?key_id=${keyId}`, "Logs");
    const rows = page.locator("table.logs tbody tr");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.nth(0).textContent()).toContain("fallback 1");
    expect(await rows.nth(1).textContent()).toContain("mock/echo");
    await rows.nth(0).getByRole("button", { name: /Details/ }).click();
    const detail = page.getByRole("dialog", { name: "Call detail" });
    await detail.getByText("gemini/gemini-2.5-flash").first().waitFor();
    expect(await detail.locator("table tbody tr").count()).toBe(2);
    // The stored request and answer are read after the dialog opens: the secret is looked for once they are in.
    await expect.poll(() => detail.getByText("Loading the stored body…").count()).toBe(0);
    expect(await detail.textContent()).not.toContain(secret);
    await shot(page, "log-detail");
    await page.keyboard.press("Escape");
    await detail.waitFor({ state: "detached" });
    // Filters narrow the rows (and an outcome with no rows says so).
    await page.getByLabel("Outcome").selectOption("error");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.getByText("No calls match.").waitFor();
    await go(page, `#/logs`, "Logs");
    await rows.first().waitFor();
    await shot(page, "logs");
  });

  it("Resources lists what keys created through the gateway, newest first, with their owners; filters by key and kind", async () => {
    const owner = await gw.createKey({ name: "uploader" });
    const other = await gw.createKey({ name: "someone-else" });
    const db = await gw.mf.getD1Database("DB");
    const t0 = Date.now() - 60_000;
    const insert = db.prepare(`INSERT INTO resources (provider, name, kind, key_id, team_id, shared, model, state, created_at, updated_at,
      finished_at, size_bytes, meta) VALUES ('gemini', ?, ?, ?, NULL, 0, ?, ?, ?, ?, ?, ?, ?)`);
    await db.batch([
      insert.bind("files/report-pdf", "file", owner.id, null, "active", t0, t0, null, 52_431, null),
      insert.bind("cachedContents/handbook", "cachedContent", owner.id, "gemini/gemini-2.5-flash", "active", t0 + 1_000, t0 + 1_000, null, null, null),
      insert.bind("batches/nightly", "batch", owner.id, "gemini/gemini-2.5-flash", "JOB_STATE_SUCCEEDED", t0 + 2_000, t0 + 9_000, t0 + 9_000, null, JSON.stringify({ requests: 120 })),
      insert.bind("files/not-theirs", "file", other.id, null, "active", t0 + 3_000, t0 + 3_000, null, 10, null),
    ]);
    await nav(page, "Resources");
    await page.getByRole("heading", { name: "Resources", level: 1 }).waitFor();
    await go(page, `#/resources?key_id=${owner.id}`, "Resources");
    const rows = page.locator("table.resources tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    expect(await rows.nth(0).textContent()).toContain("batches/nightly");
    expect(await rows.nth(0).textContent()).toContain("120 requests");
    expect(await rows.nth(1).textContent()).toContain("cachedContents/handbook");
    expect(await rows.nth(2).textContent()).toContain("52,431 B");
    expect(await page.locator("table.resources").textContent()).not.toContain("not-theirs");
    // The owner column names the key and leads to its calls.
    await rows.nth(2).getByRole("link", { name: "uploader" }).waitFor();
    await page.getByLabel("Kind").selectOption("cachedContent");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.nth(0).textContent()).toContain("cachedContents/handbook");
    await page.getByLabel("Kind").selectOption("operation");
    await page.getByRole("button", { name: "Apply filters" }).click();
    await page.getByText("No resources match.").waitFor();
    await shot(page, "resources");
  });

  it("Providers shows credentials by label (never a secret), a throttled one cooling with why, models, prices and the catalogue date", async () => {
    const { key } = await gw.createKey({ name: "acme-caller" });
    expect((await call(key, "acme/acme-large")).status).toBe(429);
    const page = await newPage();
    await nav(page, "Providers");
    await page.getByRole("heading", { name: "Providers", level: 1 }).waitFor();
    const acmeSection = page.getByRole("region", { name: "acme" });
    const row = acmeSection.getByRole("row", { name: /acme-main/ });
    await row.waitFor();
    expect(await row.textContent()).toContain("acme-*");
    await row.getByText("cooling at acme-large").waitFor();
    expect(await row.textContent()).toMatch(/until \d{4}-\d{2}-\d{2} [\d:]+ UTC: the upstream throttled it \(429\) at acme-large/);
    await page.getByText("this isolate's view").waitFor();
    // The Gemini credential is healthy; its models carry the catalogue's prices.
    const geminiSection = page.getByRole("region", { name: "gemini", exact: true });
    await geminiSection.getByRole("row", { name: /default/ }).getByText("healthy").waitFor();
    await geminiSection.getByText(/listed models and their prices/).click();
    const flash = geminiSection.getByRole("row", { name: /gemini\/gemini-2\.5-flash / });
    expect(await flash.first().textContent()).toContain("$0.3 in / $2.5 out");
    // The price table: the catalogue's date and the PRICES override.
    const prices = page.getByRole("region", { name: "Price table" });
    expect(await prices.textContent()).toMatch(/dated \d{4}-\d{2}-\d{2}/);
    await prices.getByRole("row", { name: /acme\/\*/ }).getByText("$1.5 in / $6 out per 1M tokens").waitFor();
    // The host's listed model takes the override, and says so.
    await acmeSection.getByText("1 listed model and its price").click();
    expect(await acmeSection.getByRole("row", { name: /acme\/acme-large/ }).textContent()).toBe("acme/acme-large$1.5 in / $6 out per 1M tokensoverride");
    const html = await page.content();
    for (const s of [ACME_SECRET, "upstream-gemini-key", ADMIN_TOKEN]) expect(html.includes(s), s).toBe(false);
    await shot(page, "providers");
    await page.close();
  });

  it("the Overview counts the calls on its chart, in its top lists and against the budgets", async () => {
    await go(page, `#/overview?key_id=${keyId}`, "Overview");
    const tiles = page.getByRole("region", { name: "Totals, Last 24 hours" });
    await expect.poll(() => tiles.locator(".tile-value").first().textContent()).toBe("2");
    const chart = page.getByRole("figure", { name: "Requests and errors" });
    // uPlot draws each canvas and legend in an effect, after the figures themselves are on the page.
    await expect.poll(() => chart.locator("canvas").count()).toBe(1);
    await chart.getByText("Data table").click();
    const counts = await chart.locator("details tbody tr td:nth-child(2)").allTextContents();
    expect(counts.map(Number).reduce((a, b) => a + b, 0)).toBe(2);
    await page.getByRole("region", { name: "Top keys by spend" }).getByRole("link", { name: "ci-bot" }).waitFor();
    // Latency and TTFB p50/p95 per bucket, errors by provider, cache hits (zero until a cache serves), and legends
    // that show the range's figures rather than placeholder dashes while the pointer is off the charts.
    for (const name of ["Latency", "Time to first byte"]) await expect.poll(() => page.getByRole("figure", { name, exact: true }).locator("canvas").count(), { message: name }).toBe(1);
    expect(await tiles.textContent()).toMatch(/Latency, p50\d+ ms/);
    expect(await tiles.textContent()).toContain("Cache hits0$0 saved");
    await expect.poll(() => page.locator(".u-legend").count()).toBe(5);
    await expect.poll(async () => (await page.locator(".u-legend").allTextContents()).filter((l) => l.includes("—"))).toEqual([]);
    const legends = await page.locator(".u-legend").allTextContents();
    expect(legends.length).toBe(5);
    expect(legends[0]).toContain("whole range");
    const errors = page.getByRole("region", { name: "Errors by provider" });
    expect(await errors.getByRole("row", { name: /mock/ }).textContent()).toBe("mock200%");
    const budgets = page.getByRole("region", { name: "Budget use", exact: true });
    await budgets.getByRole("link", { name: "ci-bot" }).waitFor();
    await budgets.getByRole("link", { name: "ml-platform" }).waitFor();
    expect(await budgets.textContent()).toMatch(/\$2\.5 per month/);
    await page.reload();
    await go(page, "#/overview", "Overview");
    await page.getByRole("region", { name: "Top teams by spend" }).getByRole("link", { name: "ml-platform" }).waitFor();
    await shot(page, "overview");
    const dark = await newPage({ dark: true });
    await dark.getByRole("region", { name: "Top teams by spend" }).getByRole("link", { name: "ml-platform" }).waitFor();
    await shot(dark, "overview-dark");
    await dark.close();
  });

  it("the team page lists the team's keys and spend", async () => {
    // The page's own record of its reads (one clock, in order), this visit's only.
    await page.evaluate(() => (performance.setResourceTimingBufferSize(2000), performance.clearResourceTimings()));
    await go(page, `#/teams?id=${teamId}`, "Teams");
    const detail = page.getByRole("region", { name: /Team “ml-platform”: keys/ });
    await detail.getByText("ci-bot").waitFor();
    await expect.poll(async () => (await detail.textContent())!.match(/\$0\.0000\d+/)?.[0]).toBeTruthy();
    // The team's keys show their budget use too, read once (not again on every render).
    await detail.getByRole("row", { name: /ci-bot/ }).getByRole("meter").waitFor();
    const reads = () =>
      page.evaluate(() => {
        const path = (e: PerformanceEntry) => new URL(e.name).pathname;
        const all = performance.getEntriesByType("resource") as PerformanceResourceTiming[];
        const dir = all.filter((e) => path(e) === "/admin/keys" || path(e) === "/admin/teams");
        const usage = all.filter((e) => path(e) === "/admin/usage");
        const dirAnswered = Math.max(...dir.map((e) => e.responseEnd));
        return { dir: dir.length, usage: usage.length, afterDir: usage.filter((e) => e.startTime > dirAnswered).map((e) => e.name) };
      });
    // The page change read keys and teams again; unchanged, they started no usage read once they answered (go()
    // waited for every read the page started, so all of them are recorded).
    const seen = await reads();
    expect(seen.dir).toBe(2);
    expect(seen.usage).toBeGreaterThan(0);
    expect(seen.afterDir).toEqual([]);
    // A render (a dialog opened and closed) reads nothing: a read per render would keep the page busy for ever.
    await page.getByRole("button", { name: "New key in this team" }).click();
    await page.getByRole("dialog", { name: "New key" }).getByRole("button", { name: "Close" }).click();
    await page.getByRole("dialog", { name: "New key" }).waitFor({ state: "detached" });
    await settled(page, `#/teams?id=${teamId}`);
    expect((await reads()).usage).toBe(seen.usage);
    await shot(page, "teams");
  });

  it("Keys shows spend and budget use per key, keeps each row's actions on one line at 1280 px, and picks models from the models list", async () => {
    await go(page, "#/keys", "Keys");
    const row = page.getByRole("row", { name: /ci-bot/ });
    await expect.poll(async () => (await row.getByRole("cell").allTextContents()).join("|")).toMatch(/\$0\.0000\d+ of \$2\.5 \(/);
    expect(await row.getByRole("meter").count()).toBe(1);
    expect(await row.textContent()).toMatch(/Spend|\$0\.0000\d+/);
    // The Actions cell: every control on one line.
    const boxes = await row.locator(".row-actions > *").evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((b) => ({ top: b.top, bottom: b.bottom })));
    expect(boxes.length).toBe(4);
    expect(Math.max(...boxes.map((b) => b.top))).toBeLessThan(Math.min(...boxes.map((b) => b.bottom)));
    expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
    await shot(page, "keys");
    // The allow-list picker: built from the providers' models, added to the list without retyping it.
    await page.getByRole("button", { name: "New key" }).click();
    const dialog = page.getByRole("dialog", { name: "New key" });
    await dialog.getByLabel("Models allowed").fill("gemini-*");
    await dialog.getByLabel("Add a model").selectOption("mock/*");
    await dialog.getByLabel("Add a model").selectOption("gemini/gemini-2.5-flash");
    expect(await dialog.getByLabel("Models allowed").inputValue()).toBe("gemini-*, mock/*, gemini/gemini-2.5-flash");
    await dialog.getByRole("button", { name: "Close" }).click();
  });

  it("a team's page creates a key in that team", async () => {
    await go(page, `#/teams?id=${teamId}`, "Teams");
    await page.getByRole("button", { name: "New key in this team" }).click();
    const dialog = page.getByRole("dialog", { name: "New key" });
    await expect.poll(() => dialog.getByLabel("Team").locator("option:checked").textContent()).toBe("ml-platform");
    await dialog.getByLabel("Name").fill("team-made");
    await dialog.getByRole("button", { name: "Create key" }).click();
    const shown = page.getByRole("dialog", { name: "Key “team-made” created" });
    await shown.getByRole("button", { name: "Done" }).click();
    const detail = page.getByRole("region", { name: /Team “ml-platform”: keys/ });
    const row = detail.getByRole("row", { name: /team-made/ });
    await row.waitFor();
    const id = (await row.locator(".mono.small").textContent())!;
    expect((await (await gw.admin(`/keys/${id}`)).json()).team_id).toBe(teamId);
  });

  it("rotate shows a new secret once; the old secret is refused at once", async () => {
    await go(page, "#/keys", "Keys");
    await page.getByRole("button", { name: "Rotate ci-bot" }).click();
    await page.getByRole("dialog", { name: "Rotate key “ci-bot”?" }).getByRole("button", { name: "Rotate secret" }).click();
    const shown = page.getByRole("dialog", { name: "New secret for “ci-bot”" });
    const rotated = await shown.getByLabel("Secret").inputValue();
    expect(rotated).not.toBe(secret);
    await shown.getByRole("button", { name: "Done" }).click();
    const old = await call(secret);
    expect(old.status).toBe(401);
    expect((await call(rotated)).status).toBe(200);
    secret = rotated;
  });

  it("rotate with a grace period: the old secret keeps working beside the new one, and the list says until when", async () => {
    await go(page, "#/keys", "Keys");
    await page.getByRole("button", { name: "Rotate ci-bot" }).click();
    const confirm = page.getByRole("dialog", { name: "Rotate key “ci-bot”?" });
    await confirm.getByLabel("Old secret keeps working").selectOption("3600");
    await confirm.getByRole("button", { name: "Rotate secret" }).click();
    const shown = page.getByRole("dialog", { name: "New secret for “ci-bot”" });
    const rotated = await shown.getByLabel("Secret").inputValue();
    await shown.getByRole("button", { name: "Done" }).click();
    expect((await call(secret)).status).toBe(200);
    expect((await call(rotated)).status).toBe(200);
    await page.getByRole("row", { name: /ci-bot/ }).getByText(`old ${secret.slice(0, 10)}… works until`, { exact: false }).waitFor();
    graced = secret;
    secret = rotated;
  });

  it("revoke asks first; cancelling keeps the key, confirming refuses its secret", async () => {
    await page.getByRole("button", { name: "Revoke ci-bot" }).click();
    await page.getByRole("dialog", { name: "Revoke key “ci-bot”?" }).getByRole("button", { name: "Cancel" }).click();
    expect((await call(secret)).status).toBe(200);
    await page.getByRole("button", { name: "Revoke ci-bot" }).click();
    await page.getByRole("dialog", { name: "Revoke key “ci-bot”?" }).getByRole("button", { name: "Revoke key" }).click();
    await page.getByRole("row", { name: /ci-bot/ }).getByText("revoked").waitFor();
    const refused = await call(secret);
    expect(refused.status).toBe(403);
    // The revocation ends the grace too.
    expect((await call(graced)).status).not.toBe(200);
    expect(await refused.json()).toMatchObject({ error: { status: "PERMISSION_DENIED", message: expect.stringContaining("revoked") } });
  });

  it("the key list searches by name or prefix and filters by status, without a history entry per keystroke", async () => {
    await go(page, "#/keys", "Keys");
    const before = await page.evaluate(() => history.length);
    await page.getByRole("search", { name: "Find keys" }).getByLabel("Search").pressSequentially("ci-b");
    const rows = page.locator("table.cards tbody tr");
    await expect.poll(() => rows.count()).toBe(1);
    expect(await rows.first().textContent()).toContain("ci-bot");
    expect(await page.evaluate(() => history.length)).toBe(before);
    await page.getByRole("search", { name: "Find keys" }).getByLabel("Status").selectOption("active");
    await page.getByText("No keys match.").waitFor();
    await page.getByRole("search", { name: "Find keys" }).getByLabel("Status").selectOption("revoked");
    await expect.poll(() => rows.count()).toBe(1);
    // The secret's prefix finds the key too.
    await page.getByRole("search", { name: "Find keys" }).getByLabel("Search").fill(secret.slice(0, 10));
    await expect.poll(async () => (await rows.allTextContents()).join()).toContain("ci-bot");
  });
});

describe("refusals, hostile input and accessibility", () => {
  it("every admin refusal shows the API's own message", async () => {
    await go(page, "#/keys", "Keys");
    await page.getByRole("button", { name: "New key" }).click();
    const dialog = page.getByRole("dialog", { name: "New key" });
    await dialog.getByLabel("Name").fill("bad-fallbacks");
    await dialog.getByLabel("Default fallbacks").fill("not-a-target");
    await dialog.getByRole("button", { name: "Create key" }).click();
    // Word for word what the API answers to the same request.
    const refused = await (await gw.admin("/keys", { body: { name: "bad-fallbacks", fallbacks: ["not-a-target"] } })).json();
    expect(refused.error.message).toContain("fallbacks");
    await dialog.getByRole("alert").getByText(refused.error.message, { exact: true }).waitFor();
    expect(await dialog.getByRole("alert").textContent()).toContain("HTTP 400");
    // Next to the field it concerns, which is marked invalid and has focus.
    expect(await dialog.locator(".field", { has: page.getByLabel("Default fallbacks") }).getByRole("alert").count()).toBe(1);
    // Marked and focused by an effect, just after the message renders.
    await expect.poll(() => dialog.getByLabel("Default fallbacks").getAttribute("aria-invalid")).toBe("true");
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute("name"))).toBe("fallbacks");
    await dialog.getByRole("button", { name: "Close" }).click();

    // A team with keys cannot be deleted: the 409's message, in the confirmation dialog.
    const { id: team } = await (await gw.admin("/teams", { body: { name: "busy-team" } })).json();
    await gw.createKey({ name: "busy-key", team_id: team });
    await go(page, "#/teams", "Teams");
    await page.getByRole("button", { name: "Delete busy-team" }).click();
    const confirm = page.getByRole("dialog", { name: "Delete team “busy-team”?" });
    await confirm.getByRole("button", { name: "Delete team" }).click();
    // Offered with the keys named up front; the API's refusal names them too, not only by id.
    await confirm.getByRole("link", { name: "busy-key" }).waitFor();
    await confirm.getByRole("alert").getByText(/still has 1 key\(s\).*move or revoke them first/).waitFor();
    expect(await confirm.getByRole("alert").textContent()).toContain("HTTP 409");
    expect(await confirm.getByRole("alert").textContent()).toMatch(/“busy-key” \(key_/);
    await confirm.getByRole("button", { name: "Cancel" }).click();
  });

  it("Logs counts the refused calls of its filter in one line (linked to the Overview), and says why a filter on what served shows none", async () => {
    const { id, key } = await gw.createKey({ name: "refused-key", rate_limit: { rpm: 1 } });
    expect((await call(key)).status).toBe(200);
    expect((await call(key)).status).toBe(429);
    const db = await gw.mf.getD1Database("DB");
    await expect
      .poll(async () => (await gw.flushUsage(), (await db.prepare("SELECT total(count) AS n FROM refusals WHERE key_id = ?").bind(id).first<{ n: number }>())?.n), { timeout: 20_000 })
      .toBe(1);
    await go(page, `#/logs?key_id=${id}`, "Logs");
    const note = page.getByRole("note");
    await note.getByText(/1 call was refused before reaching a provider \(1 × 429 /).waitFor();
    expect(await note.getByRole("link", { name: "see them on the Overview" }).getAttribute("href")).toBe(`#/overview?key_id=${id}`);
    await go(page, `#/logs?key_id=${id}&outcome=ok`, "Logs");
    await page.getByRole("note").getByText(/counted, not logged, and have no model, provider or outcome/).waitFor();
  });

  it("a call with no attempts says so in a sentence, not an empty table", async () => {
    const { id } = await gw.createKey({ name: "local-answers" });
    const db = await gw.mf.getD1Database("DB");
    await db.prepare(`INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action, stream, status, outcome, error,
      attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens, thinking_tokens, cost_usd, latency_ms, ttfb_ms)
      VALUES (?, ?, ?, NULL, 'mock/echo', 'mock', 'echo', 'countTokens', 0, 200, 'ok', NULL, 0, 0, '[]', 5, 0, 0, 0, 0, 1, NULL)`)
      .bind(crypto.randomUUID(), Date.now() - 1000, id).run();
    await go(page, `#/logs?key_id=${id}`, "Logs");
    await page.locator("table.logs tbody tr").first().getByRole("button", { name: /Details/ }).click();
    const detail = page.getByRole("dialog", { name: "Call detail" });
    await detail.getByText(/No provider was called for this request/).waitFor();
    // No table once the stored request and answer (read after the dialog opens) are in either.
    await expect.poll(() => detail.getByText("Loading the stored body…").count()).toBe(0);
    expect(await detail.locator("table").count()).toBe(0);
    await page.keyboard.press("Escape");
  });

  it("a call with a dimension no price covers is flagged in Logs and its detail names the dimension", async () => {
    const { id } = await gw.createKey({ name: "unpriced-calls" });
    const db = await gw.mf.getD1Database("DB");
    await db.prepare(`INSERT INTO usage (request_id, ts, key_id, team_id, requested_model, provider, model, action, stream, status, outcome, error,
      attempts, fallback_index, attempts_json, input_tokens, output_tokens, cached_tokens, thinking_tokens, cost_usd, latency_ms, ttfb_ms, unpriced)
      VALUES (?, ?, ?, NULL, 'gemini/gemini-2.5-flash', 'gemini', 'gemini-2.5-flash', 'generateContent', 0, 200, 'ok', NULL, 1, 0,
      '[{"target":"gemini/gemini-2.5-flash","status":200,"reason":"ok","latency_ms":5}]', 1000, 10, 0, 0, 0.001025, 5, 5, 'input:HOLOGRAM')`)
      .bind(crypto.randomUUID(), Date.now() - 1000, id).run();
    await go(page, `#/logs?key_id=${id}`, "Logs");
    const row = page.locator("table.logs tbody tr").first();
    const flag = row.getByText("(unpriced)");
    await flag.waitFor();
    expect(await flag.getAttribute("title")).toBe("not priced: input:HOLOGRAM");
    await row.getByRole("button", { name: /Details/ }).click();
    const detail = page.getByRole("dialog", { name: "Call detail" });
    await detail.getByText(/not priced: input:HOLOGRAM/).waitFor();
    await page.keyboard.press("Escape");
  });

  it("an edit made over someone else's change is refused with the API's 409, not applied over it", async () => {
    const { id } = await gw.createKey({ name: "shared-key", rate_limit: { rpm: 10 } });
    await go(page, "#/keys", "Keys");
    await page.getByRole("button", { name: "Edit shared-key" }).click();
    const dialog = page.getByRole("dialog", { name: "Edit key “shared-key”" });
    // Another operator changes the key while this form is open.
    expect((await gw.admin(`/keys/${id}`, { method: "PATCH", body: { rate_limit: { rpm: 99 } } })).status).toBe(200);
    await dialog.getByLabel("Requests per minute").fill("20");
    await dialog.getByRole("button", { name: "Save changes" }).click();
    await dialog.getByRole("alert").getByText(/stale write: the record is at revision \d+, not \d+/).waitFor();
    expect(await dialog.getByRole("alert").textContent()).toContain("HTTP 409");
    expect((await (await gw.admin(`/keys/${id}`)).json()).rate_limit).toMatchObject({ rpm: 99 });
    await dialog.getByRole("button", { name: "Close" }).click();
  });

  it("a token revoked mid-session (401) returns to sign-in with the API's message", async () => {
    const p = await newPage({ signedIn: false });
    await p.goto(`${gw.url}/console/`);
    await p.evaluate(() => sessionStorage.setItem("edgeway.admin-token", "stale-token"));
    await p.goto(`${gw.url}/console/#/keys`);
    await p.reload();
    await p.getByRole("alert").getByText("admin token not valid").waitFor();
    await p.getByLabel("Admin token").waitFor();
    expect(await p.evaluate(() => sessionStorage.length)).toBe(0);
    await p.close();
  });

  it("a gateway that does not answer shows an error with a way to try again, not an endless Loading…", async () => {
    const p = await newPage();
    await p.route("**/admin/**", (r) => r.abort("connectionrefused"));
    await p.getByRole("button", { name: "Refresh" }).click();
    const alert = p.getByRole("alert").filter({ hasText: "Could not read usage" });
    await alert.getByText(/did not reach the gateway/).waitFor();
    expect(await p.getByText("Loading usage…").count()).toBe(0);
    await p.unroute("**/admin/**");
    await alert.getByRole("button", { name: "Try again" }).click();
    await p.getByRole("region", { name: "Totals, Last 24 hours" }).waitFor();
    await alert.waitFor({ state: "detached" });
    await p.close();
  });

  it("names with markup are shown as text, never run", async () => {
    const hostile = `<img src=x onerror="window.__pwned=1">`;
    await gw.createKey({ name: hostile });
    await gw.admin("/teams", { body: { name: `<script>window.__pwned=2</script>` } });
    for (const [hash, heading] of PAGES) {
      await go(page, hash, heading);
      await page.waitForLoadState("networkidle");
      expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    }
    await go(page, "#/keys", "Keys");
    await page.getByText(hostile, { exact: true }).waitFor();
    expect(await page.locator("main img").count()).toBe(0);
  });

  it("works from the keyboard: sign in, open a dialog, Escape returns focus to what opened it", async () => {
    const p = await newPage({ signedIn: false });
    await p.goto(`${gw.url}/console/`);
    // The token field has focus on arrival; typing and Enter sign in.
    await expect.poll(() => p.evaluate(() => document.activeElement?.getAttribute("name"))).toBe("token");
    await p.keyboard.type(ADMIN_TOKEN);
    await p.keyboard.press("Enter");
    await p.getByRole("heading", { name: "Overview", level: 1 }).waitFor();
    // The skip link comes first and lands on the page heading.
    await p.keyboard.press("Tab");
    expect(await p.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    await p.keyboard.press("Enter");
    expect(await p.evaluate(() => document.activeElement?.tagName)).toBe("H1");
    // Navigation links are reachable by Tab, and moving to a page puts focus on its heading.
    await p.getByRole("navigation", { name: "Console" }).getByRole("link", { name: "Keys", exact: true }).focus();
    await p.keyboard.press("Enter");
    await p.getByRole("heading", { name: "Keys", level: 1 }).waitFor();
    await expect.poll(() => p.evaluate(() => document.activeElement?.textContent)).toBe("Keys");
    const opener = p.getByRole("button", { name: "New key" });
    await opener.focus();
    await p.keyboard.press("Enter");
    const dialog = p.getByRole("dialog", { name: "New key" });
    await dialog.waitFor();
    expect(await p.evaluate(() => !!document.activeElement?.closest("dialog"))).toBe(true);
    await p.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await expect.poll(() => p.evaluate(() => document.activeElement?.textContent)).toBe("New key");
    await p.close();
  });

  it("is usable at phone width: no page scrolls sideways, and rows become cards", async () => {
    const p = await newPage({ width: 390, height: 844 });
    for (const [hash, heading] of PAGES) {
      await go(p, hash, heading);
      await p.waitForLoadState("networkidle");
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, hash).toBeLessThanOrEqual(0);
    }
    // Every page's link is in view (the navigation wraps; nothing is cut off at the edge).
    for (const [, name] of PAGES) {
      const box = (await p.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true }).boundingBox())!;
      expect(box.x, name).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width, name).toBeLessThanOrEqual(390);
    }
    await go(p, "#/keys", "Keys");
    await p.getByRole("row", { name: /ci-bot/ }).waitFor();
    await shot(p, "keys-phone", false);
    await p.close();
  });

  for (const dark of [false, true]) {
    it(`text keeps a contrast of at least 4.5:1 on every page (${dark ? "dark" : "light"} mode)`, async () => {
      const p = await newPage({ dark });
      for (const [hash, heading] of PAGES) {
        await go(p, hash, heading);
        await p.waitForLoadState("networkidle");
        expect(await p.evaluate(lowContrastText), hash).toEqual([]);
      }
      await p.close();
    });
  }

  it("raised no script error and no Content-Security-Policy violation on any page", () => {
    expect(pageErrors).toEqual([]);
  });
});

/** Visible text whose colour against its background is below WCAG AA for normal text (runs in the page). */
function lowContrastText(): string[] {
  type Rgba = { r: number; g: number; b: number; a: number };
  const parse = (c: string): Rgba | null => {
    const m = /rgba?\(([^)]+)\)/.exec(c);
    if (!m) return null;
    const [r = 0, g = 0, b = 0, a = 1] = m[1]!.split(/[\s,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const lum = ({ r, g, b }: Rgba) => {
    const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el: Element | null): Rgba => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0.5) return c;
    }
    return parse(getComputedStyle(document.documentElement).backgroundColor) ?? { r: 255, g: 255, b: 255, a: 1 };
  };
  const bad: string[] = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    const text = n.textContent?.trim();
    const el = n.parentElement;
    if (!text || !el || el.closest("[disabled], option, noscript")) continue;
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || box.right < 0 || getComputedStyle(el).visibility === "hidden") continue;
    const fg = parse(getComputedStyle(el).color);
    if (!fg) continue;
    const [hi, lo] = [lum(fg), lum(background(el))].sort((a, b) => b - a) as [number, number];
    const ratio = (hi + 0.05) / (lo + 0.05);
    if (ratio < 4.5) bad.push(`${ratio.toFixed(2)}:1 "${text.slice(0, 40)}" (${getComputedStyle(el).color} on ${JSON.stringify(background(el))})`);
  }
  return bad;
}
