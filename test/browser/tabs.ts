/**
 * Console tabs for the browser tests that sign in with several tokens (roles, audit): a new tab signed in with a
 * token, a page by its address once nothing in it is loading, the navigation's links, and minting a token.
 * `gw` and `browser` are read when called (the tests start them in beforeAll); page errors are collected in `errors`.
 */
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import type { Gateway } from "../e2e/harness";

export function consoleTabs(ctx: { gw: () => Gateway; browser: () => Browser; errors: string[] }) {
  /** A new tab signed in with `token`, on the page the console lands on. */
  async function signedIn(token: string, landing: string): Promise<Page> {
    const p = await (await ctx.browser().newContext()).newPage();
    await p.setViewportSize({ width: 1280, height: 860 });
    p.on("pageerror", (e) => ctx.errors.push(e.message));
    await p.goto(`${ctx.gw().url}/console/`);
    await p.getByLabel("Admin token").fill(token);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.getByRole("heading", { name: landing, level: 1 }).waitFor();
    await settled(p);
    return p;
  }

  /** A page by its address, once nothing in it is loading. */
  async function go(p: Page, hash: string, heading: string) {
    await p.goto(`${ctx.gw().url}/console/${hash}`);
    await p.getByRole("heading", { name: heading, level: 1 }).waitFor();
    await settled(p, hash);
  }

  const navLinks = (p: Page) => p.getByRole("navigation", { name: "Console" }).getByRole("link").allTextContents();

  /** A new admin token (`{name, role, team_id?}`), minted by root. */
  async function mint(fields: Record<string, unknown>): Promise<string> {
    const r = await ctx.gw().admin("/tokens", { body: fields });
    if (r.status !== 201) throw new Error(`mint: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { token: string }).token;
  }

  return { signedIn, go, navLinks, mint };
}

/**
 * Resolves once the console shows `hash` (when given) and nothing in it is loading: no region marked aria-busy —
 * main itself is busy while keys and teams are read again, which every page change starts — and no "Loading…".
 * The render that shows a new address or filter marks its reads busy, so this cannot pass on the page before.
 */
export async function settled(p: Page, hash?: string): Promise<void> {
  await p.waitForFunction((h) => {
    const main = document.querySelector("main");
    return !!main && (h === null || main.dataset.hash === h) && main.getAttribute("aria-busy") !== "true" && !main.querySelector('[aria-busy="true"]') && !/Loading/.test(main.textContent ?? "");
  }, hash ?? null);
}

/** With `CONSOLE_SCREENSHOTS=1`, writes docs/console-<name>.png (the pictures of docs/console.md). */
export async function shot(p: Page, name: string): Promise<void> {
  if (process.env.CONSOLE_SCREENSHOTS) await p.screenshot({ path: path.join(import.meta.dirname, "..", "..", "docs", `console-${name}.png`) });
}
