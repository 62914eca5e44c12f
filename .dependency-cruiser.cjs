/**
 * The architecture of the gateway, checked on every `npm test` (docs/architecture.md tells the same in prose).
 *
 * A call flows one way, and each stage is one folder:
 *
 *   request → identify (src/auth) → scope (src/plan) → admit (src/governance) → [hooks]
 *           → upstream (src/providers) → respond (src/streaming) → record (src/usage)
 *
 * Imports follow the flow: a stage may import the stages after it (an earlier stage hands its result on in the
 * shape the next one takes: a provider yields the stream translator the respond loop pulls, admission settles with
 * the row type the record stage writes), never one before it. What several stages read sits in the foundations,
 * which import no stage: src/lib (small helpers, the provider/model parsing, the way to a Governor), src/keys (the
 * virtual key as stored: identify reads it, admission's Governor writes it), src/gemini (Gemini's wire format,
 * errors, secret redaction) and src/env.ts (the bindings; each Durable Object adds its own beside its class).
 *
 * The wiring calls the stages and is the only code that may import any of them; no stage or foundation imports it:
 * the Worker and the Hono app, the middleware (src/http) and routes, the call orchestrator (src/pipeline: the
 * attempt loop, respond, record), src/config.ts (builds every provider, the price table and the policies once per
 * isolate from the vars), the models list (src/catalog), Live, the Gemini resources, the audit trail, and the hooks
 * (src/hooks): they run between admission and the upstream call by driving the attempt loop, so they sit with the
 * wiring that calls them.
 *
 * Type-only imports count (`tsPreCompilationDeps: true`): a type that runs back up the pipeline couples the code
 * as much as a value does. Every rule is an error: scripts/check-arch-rules.mjs (run by `npm test`) fails on a
 * `warn` or `ignore` rule, a missing rule, or a folder of src/ that is in no layer.
 */

/** The stages in the order a call passes them. */
const STAGES = [
  ["identify", "src/auth"], // who calls: a virtual key (KV), a direct provider key, an ephemeral token
  ["scope", "src/plan"], // the call's targets: the path's model, then `fallbacks` or the key's chain
  ["admit", "src/governance"], // status, rate and budget: the isolate's leases, the Governor Durable Objects
  ["upstream", "src/providers"], // one folder per provider behind one interface, and the credential pools
  ["respond", "src/streaming"], // the loop that pulls a provider's stream through its translator, SSE framing
  ["record", "src/usage"], // the row, its buffer shards, D1 and the archive, rollups, settlement, prices
];

/** Shared by every stage; imports no stage and no wiring. */
const FOUNDATIONS = [
  "src/lib/", // small helpers; provider/model parsing; the way to a Governor
  "src/keys/", // the virtual key as stored (schema, KV store)
  "src/gemini/", // Gemini's wire format, the error type, secret redaction
  "src/env\\.ts$", // the bindings, vars and secrets
  "src/alerts/", // the alert outbox: admission (budgets), the pools (cool-downs) and the cron raise alerts
];

/** Calls the stages; may import anything, and only the wiring imports it. */
const WIRING = [
  "src/index\\.ts$", // the Worker: fetch, scheduled, the Durable Object classes
  "src/app\\.ts$", // the Hono app
  "src/config\\.ts$", // builds the providers, prices and policies once per isolate from the vars
  "src/http/", // middleware: identify the caller, open and record the call
  "src/routes/", // /genai and /admin routes
  "src/pipeline/", // the call orchestrator: body, attempt loop, respond, record
  "src/hooks/", // plug-ins around the attempt loop and on every answer and row
  "src/cache/", // the response cache: a hook
  "src/guardrails/", // the guardrail policies, a hook
  "src/catalog/", // the models list
  "src/live/", // the Live relay
  "src/resources/", // files, caches, batches, operations
  "src/audit/", // the admin audit trail
  "src/observe/", // /admin/metrics from the usage rollups
];

const under = (paths) => `^(${paths.join("|")})`;
const stageDir = (dir) => `${dir}/`;

/** One rule per stage: it imports none of the stages before it. */
const backArrows = STAGES.slice(1).map(([name, dir], i) => {
  const earlier = STAGES.slice(0, i + 1);
  return {
    name: `no-back-arrow-from-${name}`,
    comment:
      `${name} (${dir}) comes after ${earlier.map(([n]) => n).join(", ")} in a call; it gets what those stages ` +
      "decided as plain values from the wiring, so it never imports them. Shared shapes belong in a foundation.",
    severity: "error",
    from: { path: `^${stageDir(dir)}` },
    to: { path: under(earlier.map(([, d]) => stageDir(d))) },
  };
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "An import cycle means neither module can be read (or loaded, or tested) without the other: break it by " +
        "moving what both need to where the flow puts it. Type-only imports count.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    ...backArrows,
    {
      name: "foundations-import-no-stage",
      comment:
        "The foundations (src/lib, src/gemini, src/keys, src/env.ts) are what every stage may use; one that imported " +
        "a stage or the wiring would drag it into every other stage.",
      severity: "error",
      from: { path: under(FOUNDATIONS) },
      to: { path: under([...STAGES.map(([, d]) => stageDir(d)), ...WIRING]) },
    },
    {
      name: "stages-import-no-wiring",
      comment:
        "A stage does one job and is handed what it needs (c.var, arguments); the wiring (routes, the pipeline " +
        "orchestrator, config, Live, resources, the app) calls the stages, never the other way round.",
      severity: "error",
      from: { path: under(STAGES.map(([, d]) => stageDir(d))) },
      to: { path: under(WIRING) },
    },
    {
      name: "not-to-test",
      comment: "The Worker never imports test code.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^test/" },
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that resolves to nothing is a typo or a removed file.",
      severity: "error",
      from: { path: "^src/" },
      to: { couldNotResolve: true, pathNot: "^cloudflare:" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist|public)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      mainFields: ["module", "main", "types", "typings"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
