/**
 * The shipped prices are what scripts/generate-prices.mjs makes of the catalogue package-lock.json pins: a lockfile
 * bump without `npm run prices` (or a hand edit of the generated file or the table in docs/prices.md) fails here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

interface Built {
  meta: { source: string; version: string; date: string };
  table: Record<string, unknown[]>;
}
interface Generator {
  OUT: string;
  README: string;
  generate(date?: string): Promise<Built>;
  renderTs(b: Built): string;
  renderReadme(b: Built): string;
  spliceReadme(readme: string, table: string): string;
}

const load = async () => (await import(pathToFileURL(path.join(root, "scripts/generate-prices.mjs")).href)) as Generator;

describe("the generated price table", () => {
  it("names the catalogue version package-lock.json pins", () => {
    const lock = JSON.parse(readFileSync(path.join(root, "package-lock.json"), "utf8")) as { packages: Record<string, { version: string }> };
    const pinned = lock.packages["node_modules/@pydantic/genai-prices"]!.version;
    expect(readFileSync(path.join(root, "src/usage/prices.generated.ts"), "utf8")).toContain(`"version":"${pinned}"`);
  });

  it("is exactly what the script generates from the installed catalogue, and so is the table in docs/prices.md", async () => {
    const gen = await load();
    const checkedIn = readFileSync(gen.OUT, "utf8");
    const date = /"date":"([^"]+)"/.exec(checkedIn)![1]!;
    const built = await gen.generate(date);
    expect(checkedIn).toBe(gen.renderTs(built));
    const readme = readFileSync(gen.README, "utf8");
    expect(readme).toBe(gen.spliceReadme(readme, gen.renderReadme(built)));
  });
});
