/**
 * The console's observability views: a call's stored request and answer in its Logs detail (a key with
 * `log_bodies`, the LOG_BUCKET binding Miniflare simulates), and the Alerts page with the recent webhook deliveries
 * and their state, from a budget crossed by a real call and a receiver that refuses one delivery.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, mockUpstream, startGateway, type Gateway, type MockUpstream } from "../e2e/harness";
import { launchChromium } from "./chromium";
import { consoleTabs, shot } from "./tabs";

let gw: Gateway;
let browser: Browser;
let receiver: MockUpstream;
const pageErrors: string[] = [];

const { signedIn, go, navLinks, mint } = consoleTabs({ gw: () => gw, browser: () => browser, errors: pageErrors });

const call = (secret: string, text: string, extra: Record<string, unknown> = {}) =>
  fetch(`${gw.url}/genai/v1beta/models/mock/echo:generateContent`, {
    method: "POST",
    headers: { "x-goog-api-key": secret, "content-type": "application/json" },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text }] }], ...extra }),
  });

beforeAll(async () => {
  // The 3% delivery (the last of the subject's, sent in order) is refused: it stays pending, to be retried.
  receiver = await mockUpstream((req, res) => void res.writeHead(req.body.includes('"threshold_percent":3,') ? 500 : 200).end());
  // Thresholds one small mock call crosses (its worst case must fit the budget to be admitted at all).
  gw = await startGateway({ MOCK_PROVIDER: "on", ALERT_WEBHOOK_URL: `${receiver.url}/hook`, ALERT_ALLOW_PRIVATE: "on", ALERT_BUDGET_THRESHOLDS: "1,2,3" });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
  await receiver?.close();
});

describe("console: stored bodies and alerts", () => {
  it("a call's detail shows its stored request and answer, the secret in the prompt redacted; a call with none says so", async () => {
    // The key is made in the console, with its "Store request and answer bodies" box checked.
    const p = await signedIn(ADMIN_TOKEN, "Overview");
    await go(p, "#/keys", "Keys");
    await p.getByRole("button", { name: "New key" }).click();
    const create = p.getByRole("dialog", { name: "New key" });
    await create.getByLabel("Name").fill("debugged");
    await create.getByLabel(/Store request and answer bodies/).check();
    await create.getByRole("button", { name: "Create key" }).click();
    const made = p.getByRole("dialog", { name: /Key “debugged” created/ });
    await made.waitFor();
    const secret = await made.locator("input").first().inputValue();
    await made.getByRole("button", { name: "Done" }).click();
    const keys = ((await (await gw.admin("/keys?limit=1000")).json()) as { keys: { id: string; name: string; log_bodies?: boolean }[] }).keys;
    const logged = { key: secret, ...keys.find((k) => k.name === "debugged")! };
    expect(logged.log_bodies).toBe(true);
    const plain = await gw.createKey({ name: "plain" });
    const res = await call(logged.key, `look at this: ${ADMIN_TOKEN} please`);
    expect(res.status).toBe(200);
    const id = res.headers.get("x-edgeway-request-id")!;
    await res.text();
    await gw.usageRow(id);
    const other = await call(plain.key, "nothing kept");
    await gw.usageRow(other.headers.get("x-edgeway-request-id"));
    // The body is written just after the answer (waitUntil): the API has it before the console is asked.
    await expect.poll(async () => (await gw.admin(`/logs/${id}/body`)).status).toBe(200);

    await go(p, `#/logs?key_id=${logged.id}`, "Logs");
    await p.locator("table.logs tbody tr").first().getByRole("button", { name: /Details/ }).click();
    const detail = p.getByRole("dialog", { name: "Call detail" });
    const request = detail.getByRole("region", { name: "Request and answer" }).getByLabel("Request", { exact: true });
    await request.waitFor();
    const shown = (await request.textContent())!;
    expect(shown).toContain('"text": "look at this: [redacted] please"');
    expect(shown).not.toContain(ADMIN_TOKEN);
    const answer = (await detail.getByLabel("Answer", { exact: true }).textContent())!;
    expect(answer).toContain("This is the edgeway mock model. You said: look at this: [redacted] please");
    expect(await detail.textContent()).not.toContain(ADMIN_TOKEN);
    await p.keyboard.press("Escape");
    await detail.waitFor({ state: "detached" });

    await go(p, `#/logs?key_id=${plain.id}`, "Logs");
    await p.locator("table.logs tbody tr").first().getByRole("button", { name: /Details/ }).click();
    await p.getByRole("dialog", { name: "Call detail" }).getByText("No body is stored for this call").waitFor();
    expect(pageErrors).toEqual([]);
  });

  it("Alerts lists the deliveries newest first with their state and the receiver's answer; a viewer reads it without the send button", async () => {
    const team = (await (await gw.admin("/teams", { body: { name: "ml-research", budget: { max_usd: 0.0005, period: "1d" } } })).json()) as { id: string };
    const k = await gw.createKey({ name: "spender", team_id: team.id });
    // About $0.000019 of $0.0005 (3.8%): 3 input tokens at $1 and 8 output tokens at $2 per million.
    expect((await call(k.key, "spend it all", { generationConfig: { maxOutputTokens: 8 } })).status).toBe(200);
    // One event per threshold crossed (1, 2, 3), each sent at once: wait until every one has had its try.
    await expect
      .poll(async () => {
        const { alerts } = (await (await gw.admin("/alerts")).json()) as { alerts: { attempts: number; event: { subject: { id: string } } }[] };
        return alerts.filter((a) => a.event.subject.id === team.id && a.attempts > 0).length;
      }, { timeout: 20_000 })
      .toBe(3);

    const p = await signedIn(ADMIN_TOKEN, "Overview");
    expect(await navLinks(p)).toContain("Alerts");
    await go(p, "#/alerts", "Alerts");
    const rows = p.locator("table.alerts tbody tr");
    await expect.poll(() => rows.count()).toBe(3);
    const texts = await rows.allTextContents();
    for (const t of texts) expect(t).toContain("budget.threshold");
    for (const t of texts) expect(t).toContain("ml-research");
    // Newest first: the thresholds were raised in ascending order.
    expect(texts[0]).toContain("3% of the 1d budget");
    expect(texts[2]).toContain("1% of the 1d budget");
    expect(texts[0]).toMatch(/pending.*next try.*HTTP 500/);
    expect(texts[0]).toContain("receiver answered 500");
    expect(texts[1]).toMatch(/delivered.*HTTP 200/);
    expect(texts[2]).toMatch(/delivered.*HTTP 200/);
    await p.getByRole("button", { name: "Deliver due now" }).waitFor();
    await shot(p, "alerts");

    const viewer = await signedIn(await mint({ name: "watcher", role: "viewer" }), "Overview");
    await go(viewer, "#/alerts", "Alerts");
    await expect.poll(() => viewer.locator("table.alerts tbody tr").count()).toBe(3);
    expect(await viewer.getByRole("button", { name: "Deliver due now" }).count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
