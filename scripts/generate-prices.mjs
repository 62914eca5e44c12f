#!/usr/bin/env node
/**
 * Writes src/usage/prices.generated.ts (the shipped prices) and the price table of docs/prices.md from the price catalogue
 * pinned in package-lock.json (`@pydantic/genai-prices`, a devDependency: nothing of it is bundled), plus the few
 * prices it does not carry (SUPPLEMENT below). Run after bumping the catalogue: `npm run prices`.
 * test/e2e/prices-generated.test.ts fails when the checked-in file is not what this writes.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
export const OUT = path.join(root, "src/usage/prices.generated.ts");
/** The page whose price table this writes (docs/prices.md; the name is kept for callers). */
export const README = path.join(root, "docs", "prices.md");
const PACKAGE = "@pydantic/genai-prices";

/** Catalogue providers shipped, by the catalogue's id. Vertex AI serves Google's list (src/usage/catalogue.ts). */
const PROVIDERS = ["google", "openai", "anthropic"];

/** The catalogue's price keys (USD per 1M tokens) → PRICES fields. A key missing here stops the script. */
const FIELDS = {
  input_mtok: "input",
  output_mtok: "output",
  cache_read_mtok: "cached_input",
  cache_audio_read_mtok: "cached_input_audio",
  cache_image_read_mtok: "cached_input_image",
  cache_write_mtok: "cache_write",
  cache_write_1h_mtok: "cache_write_1h",
  input_audio_mtok: "input_audio",
  input_image_mtok: "input_image",
  input_video_mtok: "input_video",
  output_audio_mtok: "output_audio",
  output_image_mtok: "output_image",
  output_video_mtok: "output_video",
};
/**
 * Catalogue keys for what no Gemini-shaped call uses (OpenAI's hosted web and file search, per-hour transcription
 * audio): left out.
 */
const IGNORED = new Set(["web_searches_kcount", "storage_searches_kcount", "requests_kcount", "audio_hours", "input_audio_hours"]);

/**
 * What the catalogue does not price, from ai.google.dev/gemini-api/docs/pricing (read 2026-11-24): context-cache
 * storage (USD per 1M tokens per hour) for catalogue models, and the models billed per image (Imagen) or per
 * second of video (Veo), which it does not list.
 */
export const SUPPLEMENT = {
  cache_storage_per_hour: {
    "gemini-2.5-pro": 4.5,
    "gemini-3-pro-preview": 4.5,
    "gemini-3.1-pro-preview": 4.5,
    "gemini-2.5-flash": 1,
    "gemini-2.5-flash-lite": 1,
    "gemini-2.0-flash": 1,
    "gemini-3-flash-preview": 1,
    "gemini-3.1-flash-lite": 1,
  },
  google: [
    { id: "imagen-4.0-fast-generate", match: { starts_with: "imagen-4.0-fast-generate" }, prices: { input: 0, output: 0, per_image: 0.02 } },
    { id: "imagen-4.0-generate", match: { starts_with: "imagen-4.0-generate" }, prices: { input: 0, output: 0, per_image: 0.04 } },
    { id: "imagen-4.0-ultra-generate", match: { starts_with: "imagen-4.0-ultra-generate" }, prices: { input: 0, output: 0, per_image: 0.06 } },
    { id: "imagen-3.0-generate", match: { starts_with: "imagen-3.0-generate" }, prices: { input: 0, output: 0, per_image: 0.03 } },
    { id: "veo-3.1-fast-generate", match: { starts_with: "veo-3.1-fast-generate" }, prices: { input: 0, output: 0, per_second: 0.15 } },
    { id: "veo-3.1-generate", match: { starts_with: "veo-3.1-generate" }, prices: { input: 0, output: 0, per_second: 0.4 } },
    { id: "veo-3.0-fast-generate", match: { starts_with: "veo-3.0-fast-generate" }, prices: { input: 0, output: 0, per_second: 0.15 } },
    { id: "veo-3.0-generate", match: { starts_with: "veo-3.0-generate" }, prices: { input: 0, output: 0, per_second: 0.4 } },
    { id: "veo-2.0-generate", match: { starts_with: "veo-2.0-generate" }, prices: { input: 0, output: 0, per_second: 0.35 } },
    { id: "text-embedding-004", match: { equals: "text-embedding-004" }, prices: { input: 0, output: 0 } },
  ],
};

/** One catalogue price (`{input_mtok: 1.25, …}`, tiered values allowed) → a PRICES entry with `tiers`. */
function price(raw, where) {
  const out = { input: 0, output: 0 };
  const tiers = new Map();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined || IGNORED.has(k)) continue;
    const field = FIELDS[k];
    if (!field) throw new Error(`${where}: catalogue price "${k}" has no PRICES field; add it to FIELDS (and to the cost model)`);
    if (typeof v === "number") out[field] = v;
    else {
      out[field] = v.base;
      for (const t of v.tiers) {
        if (!tiers.has(t.start)) tiers.set(t.start, { above: t.start });
        tiers.get(t.start)[field] = t.price;
      }
    }
  }
  if (tiers.size) {
    // A tier names what it changes; a field it leaves out keeps its price below the threshold (src/usage/cost.ts).
    out.tiers = [...tiers.values()].sort((a, b) => a.above - b.above);
  }
  return out;
}

function prices(m, where) {
  if (!Array.isArray(m.prices)) return price(m.prices, where);
  return m.prices.map((c) => {
    if (c.constraint && c.constraint.type !== "start_date") throw new Error(`${where}: constraint "${c.constraint.type}" is not supported`);
    return { from: c.constraint?.start_date ?? null, prices: price(c.prices, where) };
  });
}

/** The shipped table, from the catalogue's providers (as `findProvider` gives them). */
export function build(findProvider, meta) {
  const table = {};
  for (const id of PROVIDERS) {
    const p = findProvider({ providerId: id });
    if (!p) throw new Error(`catalogue has no provider "${id}"`);
    const models = p.models.map((m) => {
      const entry = { id: m.id, match: m.match, prices: prices(m, `${id}/${m.id}`) };
      const storage = id === "google" ? SUPPLEMENT.cache_storage_per_hour[m.id] : undefined;
      if (storage !== undefined && !Array.isArray(entry.prices)) entry.prices.cache_storage_per_hour = storage;
      if (m.deprecated) entry.deprecated = true;
      return entry;
    });
    table[id] = [...models, ...(SUPPLEMENT[id] ?? [])];
  }
  for (const id of Object.keys(SUPPLEMENT.cache_storage_per_hour)) {
    if (!table.google.some((m) => m.id === id)) throw new Error(`SUPPLEMENT: catalogue has no google model "${id}"`);
  }
  return { meta, table };
}

export function renderTs({ meta, table }) {
  const lines = [
    `// Generated by scripts/generate-prices.mjs from ${meta.source} ${meta.version} (published ${meta.date}). Do not edit:`,
    "// change the catalogue's version in package.json (or the script's SUPPLEMENT) and run `npm run prices`.",
    'import type { CatalogueModel } from "./catalogue";',
    "",
    `export const CATALOGUE = ${JSON.stringify(meta)} as const;`,
    "",
    "export const SHIPPED: Record<string, readonly CatalogueModel[]> = {",
  ];
  for (const [id, models] of Object.entries(table)) {
    lines.push(`  ${JSON.stringify(id)}: [`);
    for (const m of models) lines.push(`    ${JSON.stringify(m)},`);
    lines.push("  ],");
  }
  lines.push("};", "");
  return lines.join("\n");
}

const usd = (n) => (n === undefined ? "" : `$${n}`);

/** The table (docs/prices.md) of the Gemini API's shipped prices (current ones; USD per 1M tokens unless said). */
export function renderReadme({ meta, table }) {
  const rows = [
    `Shipped prices for the Gemini API (\`gemini/…\`, also \`vertex/…\`), generated from ${meta.source} ${meta.version} (published ${meta.date}); USD per 1M tokens unless said. Cached: context-cache reads; storage: per 1M cached tokens per hour.`,
    "",
    "| model | input | output | cached input | audio input | other | larger prompts (the whole call) | cache storage / h |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const m of table.google) {
    if (m.deprecated || !/^(gemini|imagen|veo)-/.test(m.id)) continue;
    const p = Array.isArray(m.prices) ? m.prices[0].prices : m.prices;
    const dated = Array.isArray(m.prices) ? m.prices.filter((c) => c.from).map((c) => `from ${c.from}: ${usd(c.prices.input)} / ${usd(c.prices.output)}`) : [];
    const other = [
      p.input_image !== undefined && `image in ${usd(p.input_image)}`,
      p.input_video !== undefined && `video in ${usd(p.input_video)}`,
      p.output_audio !== undefined && `audio out ${usd(p.output_audio)}`,
      p.output_image !== undefined && `image out ${usd(p.output_image)}`,
      p.output_video !== undefined && `video out ${usd(p.output_video)}`,
      p.per_image !== undefined && `${usd(p.per_image)} per image`,
      p.per_second !== undefined && `${usd(p.per_second)} per second of video`,
      ...dated,
    ].filter(Boolean);
    const tier = p.tiers?.map((t) => `over ${t.above / 1000}k: ${usd(t.input)} / ${usd(t.output)}${t.cached_input !== undefined ? ` / cached ${usd(t.cached_input)}` : ""}`).join("; ") ?? "";
    const tokens = p.per_image === undefined && p.per_second === undefined;
    rows.push(`| \`${m.id}\` | ${tokens ? usd(p.input) : ""} | ${tokens ? usd(p.output) : ""} | ${usd(p.cached_input)} | ${usd(p.input_audio)} | ${other.join(", ")} | ${tier} | ${usd(p.cache_storage_per_hour)} |`);
  }
  return rows.join("\n");
}

export const MARK_START = "<!-- prices:start (generated by scripts/generate-prices.mjs) -->";
export const MARK_END = "<!-- prices:end -->";

export function spliceReadme(readme, table) {
  const a = readme.indexOf(MARK_START);
  const b = readme.indexOf(MARK_END);
  if (a < 0 || b < a) throw new Error(`docs/prices.md has no ${MARK_START} … ${MARK_END} markers`);
  return `${readme.slice(0, a + MARK_START.length)}\n${table}\n${readme.slice(b)}`;
}

/** The installed catalogue's version (what package-lock.json pins). */
export function installedVersion() {
  return JSON.parse(readFileSync(path.join(root, "node_modules", PACKAGE, "package.json"), "utf8")).version;
}

/** The date the checked-in file was generated from, when it names the same version; else asks the registry. */
function publishDate(version) {
  try {
    const m = /"version":"([^"]+)","date":"([^"]+)"/.exec(readFileSync(OUT, "utf8"));
    if (m && m[1] === version) return m[2];
  } catch {
    /* no file yet */
  }
  const time = JSON.parse(execFileSync("npm", ["view", `${PACKAGE}@${version}`, "time", "--json"], { encoding: "utf8" }));
  return String(time[version]).slice(0, 10);
}

/** What the generated file and the docs/prices.md table are for the installed catalogue, dated `date`. */
export async function generate(date) {
  const version = installedVersion();
  const { findProvider } = await import(PACKAGE);
  return build(findProvider, { source: PACKAGE, version, date: date ?? publishDate(version) });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const built = await generate();
  writeFileSync(OUT, renderTs(built));
  writeFileSync(README, spliceReadme(readFileSync(README, "utf8"), renderReadme(built)));
  const n = Object.values(built.table).reduce((s, m) => s + m.length, 0);
  console.log(`prices: ${n} models from ${built.meta.source} ${built.meta.version} (${built.meta.date}) → ${path.relative(root, OUT)}, docs/prices.md`);
}
