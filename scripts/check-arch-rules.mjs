#!/usr/bin/env node
/**
 * Keeps the architecture rules (.dependency-cruiser.cjs) from being loosened quietly; `npm test` runs it after
 * `depcruise`. Fails when:
 * - a rule is anything but an error (a `warn`, `info` or `ignore` rule reports and passes), or an `allowed` list
 *   with its own severity turns up;
 * - one of the rules that make up the architecture is gone (no cycles, no back-arrow from each stage, foundations
 *   import no stage, stages import no wiring), or type-only imports stopped counting;
 * - the rules leave a file of the Worker out (an `exclude`/`includeOnly` over src/, a known-violations file);
 * - a folder or file at the top of src/ is in no layer: a new one must take its place (stage, foundation or wiring)
 *   in the rules before it can hold code.
 */
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const config = createRequire(import.meta.url)(join(root, ".dependency-cruiser.cjs"));
const problems = [];
const fail = (m) => problems.push(m);

const rules = config.forbidden ?? [];
for (const r of rules) {
  if (r.severity !== "error") fail(`rule ${r.name}: severity is "${r.severity}"; every rule is an error`);
}
if (config.allowed || config.allowedSeverity) fail("an `allowed` list (and its severity) is not used here: write forbidden rules");
if (config.required?.some((r) => r.severity !== "error")) fail("a `required` rule is not an error");

const names = new Set(rules.map((r) => r.name));
const byName = new Map(rules.map((r) => [r.name, r]));
const needed = ["no-circular", "foundations-import-no-stage", "stages-import-no-wiring"];
for (const n of needed) if (!names.has(n)) fail(`rule ${n} is missing`);
if (!(byName.get("no-circular")?.to?.circular === true)) fail("no-circular does not forbid cycles");
if (![...names].some((n) => n.startsWith("no-back-arrow-from-"))) fail("the no-back-arrow-from-<stage> rules are missing");

const o = config.options ?? {};
if (o.tsPreCompilationDeps !== true) fail("options.tsPreCompilationDeps must be true: type-only imports count");
for (const key of ["exclude", "includeOnly", "doNotFollow"]) {
  const v = o[key];
  const paths = [v?.path ?? v].flat().filter((p) => typeof p === "string");
  for (const p of paths) if (new RegExp(p).test("src/x.ts") || new RegExp(p).test("src/lib/x.ts")) fail(`options.${key} leaves src/ out (${p})`);
}
if (o.knownViolations?.length) fail("options.knownViolations hides violations");
if (existsSync(join(root, ".dependency-cruiser-known-violations.json"))) fail(".dependency-cruiser-known-violations.json hides violations");

// Every top-level entry of src/ belongs to a layer: a stage, a foundation or the wiring.
const patterns = [
  byName.get("foundations-import-no-stage")?.from?.path,
  byName.get("stages-import-no-wiring")?.from?.path,
  byName.get("stages-import-no-wiring")?.to?.path,
].filter(Boolean).map((p) => new RegExp(p));
for (const e of readdirSync(join(root, "src"), { withFileTypes: true })) {
  const probe = e.isDirectory() ? `src/${e.name}/x.ts` : `src/${e.name}`;
  if (!patterns.some((p) => p.test(probe))) fail(`src/${e.name}${e.isDirectory() ? "/" : ""} is in no layer of .dependency-cruiser.cjs`);
}

if (problems.length) {
  console.error(`architecture rules (.dependency-cruiser.cjs):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  process.exit(1);
}
console.log(`architecture rules: ${rules.length} rules, all errors; every part of src/ in a layer`);
