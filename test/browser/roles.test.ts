/**
 * The console signed in with each admin role shows only what that role may do (the admin API stays the judge):
 * a viewer reads every page and finds no write control; a team_admin sees its team's keys and team only, and a
 * page it cannot use, opened by its address, says why instead of showing a 403; root and admin see everything.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startGateway, type Gateway } from "../e2e/harness";
import { launchChromium } from "./chromium";
import { consoleTabs, shot } from "./tabs";

let gw: Gateway;
let browser: Browser;
const pageErrors: string[] = [];
let teamA: { id: string; name: string };
let teamB: { id: string; name: string };
const tokens: Record<"viewer" | "team_admin" | "admin", string> = { viewer: "", team_admin: "", admin: "" };

const { signedIn, go, navLinks, mint } = consoleTabs({ gw: () => gw, browser: () => browser, errors: pageErrors });

/** The buttons that change something, by their names. */
const WRITE = /^(New key|New team|New key in this team|New token|Edit|Rotate|Revoke|Delete)\b/;
const writeControls = async (p: Page) => (await p.getByRole("button").allTextContents()).map((t) => t.trim()).filter((t) => WRITE.test(t));

beforeAll(async () => {
  gw = await startGateway({ MOCK_PROVIDER: "on" });
  browser = await launchChromium();
  teamA = await (await gw.admin("/teams", { body: { name: "alpha" } })).json();
  teamB = await (await gw.admin("/teams", { body: { name: "bravo" } })).json();
  await gw.createKey({ name: "alpha-svc", team_id: teamA.id });
  await gw.createKey({ name: "bravo-svc", team_id: teamB.id });
  await gw.createKey({ name: "teamless-svc" });
  tokens.viewer = await mint({ name: "auditor", role: "viewer" });
  tokens.team_admin = await mint({ name: "alpha-lead", role: "team_admin", team_id: teamA.id });
  tokens.admin = await mint({ name: "ops", role: "admin" });
});

afterAll(async () => {
  await browser?.close();
  await gw?.stop();
});

describe("console roles", () => {
  it("a viewer reads every page, sees its role in the header, and finds no write control on Keys or Teams", async () => {
    const p = await signedIn(tokens.viewer, "Overview");
    expect(await p.locator(".whoami").textContent()).toContain("viewer");
    expect(await navLinks(p)).toEqual(["Overview", "Keys", "Teams", "Logs", "Resources", "Providers", "Tokens", "Audit", "Alerts", "Playground"]);
    await go(p, "#/keys", "Keys");
    await p.getByText("alpha-svc").waitFor();
    expect(await writeControls(p)).toEqual([]);
    await go(p, "#/teams", "Teams");
    await p.getByRole("link", { name: "alpha" }).waitFor();
    expect(await writeControls(p)).toEqual([]);
    await go(p, `#/teams?id=${teamA.id}`, "Teams");
    await p.getByText("alpha-svc").waitFor();
    expect(await writeControls(p)).toEqual([]);
    // Tokens: listed (never their secrets), none minted or deleted from here.
    await go(p, "#/tokens", "Tokens");
    await p.getByText("alpha-lead").waitFor();
    expect(await writeControls(p)).toEqual([]);
    expect(await p.locator("main").textContent()).not.toContain(tokens.viewer);
    for (const [hash, heading] of [["#/overview", "Overview"], ["#/logs", "Logs"], ["#/providers", "Providers"]] as const) {
      await go(p, hash, heading);
      expect(await p.getByRole("alert").count(), `${heading}: no error`).toBe(0);
    }
    await p.close();
  });

  it("a team_admin lands on Keys, sees only its team's keys and pages, and its team in the header", async () => {
    const p = await signedIn(tokens.team_admin, "Keys");
    // The team's name comes from the keys and teams read (signedIn waits for it): "alpha" alone would also match
    // the token's own name, "alpha-lead", shown before that read answers.
    const who = await p.locator(".whoami").textContent();
    expect(who).toContain("team admin");
    expect(who).toContain(`team alpha (${teamA.id})`);
    expect(await navLinks(p)).toEqual(["Keys", "Teams"]);
    await go(p, "#/keys", "Keys");
    await p.getByText("alpha-svc").waitFor();
    expect(await p.getByText("bravo-svc").count()).toBe(0);
    expect(await p.getByText("teamless-svc").count()).toBe(0);
    expect(await p.getByRole("alert").count()).toBe(0);
    // It manages its keys: create, edit, rotate, revoke, but no Logs link (it reads no logs).
    expect(await writeControls(p)).toEqual(["New key", "Edit", "Rotate", "Revoke"]);
    expect(await p.getByRole("link", { name: "Logs" }).count()).toBe(0);
    // Its team: listed, its keys shown, a key can be made in it; the team itself is not editable.
    await go(p, `#/teams?id=${teamA.id}`, "Teams");
    await p.getByRole("heading", { name: /Team “alpha”: keys/ }).waitFor();
    expect(await p.getByRole("link", { name: "bravo" }).count()).toBe(0);
    expect(await writeControls(p)).toEqual(["New key in this team", "Edit", "Rotate", "Revoke"]);
    expect(await p.getByRole("alert").count()).toBe(0);
    await p.close();
  });

  it("a team_admin creating a key makes it in its team, with no error from what it cannot read", async () => {
    const p = await signedIn(tokens.team_admin, "Keys");
    await p.getByRole("button", { name: "New key" }).click();
    const dialog = p.getByRole("dialog", { name: "New key" });
    await dialog.getByLabel("Name").fill("alpha-new");
    // The team list arrives after the dialog opens: wait for it, then it must hold only alpha.
    await dialog.getByLabel("Team").locator("option", { hasText: "alpha" }).waitFor({ state: "attached" });
    expect(await dialog.getByLabel("Team").locator("option").allTextContents()).toEqual(["alpha"]);
    await dialog.getByRole("button", { name: "Create key" }).click();
    await p.getByRole("dialog", { name: /Key “alpha-new” created/ }).waitFor();
    const keys = ((await (await gw.admin("/keys?limit=1000")).json()) as { keys: { name: string; team_id: string | null }[] }).keys;
    expect(keys.find((k) => k.name === "alpha-new")?.team_id).toBe(teamA.id);
    await p.close();
  });

  it("a team_admin opening a page it cannot use by its address is told why, not shown a 403", async () => {
    const p = await signedIn(tokens.team_admin, "Keys");
    for (const [hash, heading] of [["#/overview", "Overview"], ["#/logs", "Logs"], ["#/providers", "Providers"], ["#/resources", "Resources"], ["#/tokens", "Tokens"], ["#/audit", "Audit"], ["#/alerts", "Alerts"], ["#/playground", "Playground"]] as const) {
      await go(p, hash, heading);
      const note = await p.getByRole("status").filter({ hasText: "not available" }).textContent();
      expect(note).toContain("team_admin");
      expect(await p.getByRole("alert").count(), `${heading}: no error`).toBe(0);
      expect(await p.locator("main").textContent()).not.toMatch(/403|PERMISSION_DENIED/);
    }
    await p.getByRole("link", { name: "Keys", exact: true }).last().click();
    await p.getByText("alpha-svc").waitFor();
    await p.close();
  });

  it("root and an admin token see every page and every write control", async () => {
    for (const [token, role] of [[ADMIN_TOKEN, "root"], [tokens.admin, "admin"]] as const) {
      const p = await signedIn(token, "Overview");
      expect(await p.locator(".whoami").textContent()).toContain(role);
      expect(await navLinks(p)).toEqual(["Overview", "Keys", "Teams", "Logs", "Resources", "Providers", "Tokens", "Audit", "Alerts", "Playground"]);
      // Every link, the role and Sign out on one row at 1280 px.
      const nav = (await p.getByRole("navigation", { name: "Console" }).boundingBox())!;
      const out = (await p.getByRole("button", { name: "Sign out" }).boundingBox())!;
      expect(Math.abs(out.y + out.height / 2 - (nav.y + nav.height / 2))).toBeLessThan(nav.height / 2);
      await go(p, "#/teams", "Teams");
      await p.getByRole("link", { name: "alpha" }).waitFor();
      expect(await writeControls(p)).toContain("New team");
      await go(p, "#/keys", "Keys");
      await p.getByText("bravo-svc").waitFor();
      expect(await writeControls(p)).toContain("New key");
      await p.close();
    }
  });

  it("an admin mints viewer and team_admin tokens, is never offered an admin one, and cannot delete one", async () => {
    const p = await signedIn(tokens.admin, "Overview");
    await go(p, "#/tokens", "Tokens");
    await p.getByText("Only the root ADMIN_TOKEN mints or deletes admin tokens.").waitFor();
    // The admin token "ops" is listed without a Delete (root only); the lower roles have one. (That sentence is
    // there before the list: the row is waited for, or its count of buttons is read before it exists.)
    await p.getByRole("row", { name: /ops/ }).getByText("root only").waitFor();
    expect(await p.getByRole("row", { name: /ops/ }).getByRole("button").count()).toBe(0);
    await p.getByRole("row", { name: /auditor/ }).getByRole("button", { name: "Delete auditor" }).waitFor();
    await p.getByRole("button", { name: "New token" }).click();
    const dialog = p.getByRole("dialog", { name: "New token" });
    expect(await dialog.getByLabel("Role").locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["viewer", "team_admin"]);
    await dialog.getByLabel("Name").fill("bravo-lead");
    await dialog.getByLabel("Role").selectOption("team_admin");
    await dialog.getByRole("combobox", { name: /^Team/ }).selectOption({ label: "bravo" });
    await dialog.getByRole("button", { name: "Create token" }).click();
    const shown = p.getByRole("dialog", { name: "Token “bravo-lead” created" });
    const secret = await shown.getByLabel("Token").inputValue();
    expect(secret).toMatch(/^sk-ew-admin-[0-9A-Za-z]{40}$/);
    await shown.getByRole("button", { name: "Done" }).click();
    await p.getByRole("row", { name: /bravo-lead/ }).getByText("team_admin").waitFor();
    // Who minted it reads as the minting token's name, not its id.
    expect(await p.getByRole("row", { name: /bravo-lead/ }).getByRole("cell").filter({ hasText: "by " }).textContent()).toMatch(/by ops$/);
    // The new token signs in as bravo's team admin.
    const q = await signedIn(secret, "Keys");
    await q.getByText("bravo-svc").waitFor();
    expect(await q.getByText("alpha-svc").count()).toBe(0);
    await q.close();
    // Refused anyway if asked: the API is the judge (an admin token minting an admin).
    const r = await fetch(`${gw.url}/admin/tokens`, { method: "POST", headers: { authorization: `Bearer ${tokens.admin}`, "content-type": "application/json" }, body: JSON.stringify({ name: "x", role: "admin" }) });
    expect(r.status).toBe(403);
    await p.close();
  });

  it("root is offered every role, an admin one included", async () => {
    const p = await signedIn(ADMIN_TOKEN, "Overview");
    await go(p, "#/tokens", "Tokens");
    await p.getByRole("row", { name: /ops/ }).getByRole("button", { name: "Delete ops" }).waitFor();
    await shot(p, "tokens");
    await p.getByRole("button", { name: "New token" }).click();
    const dialog = p.getByRole("dialog", { name: "New token" });
    expect(await dialog.getByLabel("Role").locator("option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(["admin", "viewer", "team_admin"]);
    await p.close();
  });

  it("raised no script error", () => {
    expect(pageErrors).toEqual([]);
  });
});
