import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

const root = import.meta.dirname;

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(root, "migrations"));
  return {
    test: {
      reporters: ["default", "./test/helpers/summary-reporter.ts"],
      projects: [
        {
          // Unit and integration tests inside workerd, with real KV, D1 (and Durable Object) bindings.
          plugins: [
            cloudflareTest({
              wrangler: { configPath: path.join(root, "wrangler.toml") },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ADMIN_TOKEN: "test-admin-token-0123456789abcdef",
                  GEMINI_API_KEY: "test-gemini-key",
                  GEMINI_BASE_URL: "https://gemini.upstream.test",
                  OPENAI_API_KEY: "test-openai-key",
                  OPENAI_BASE_URL: "https://openai.upstream.test",
                  ANTHROPIC_API_KEY: "test-anthropic-key",
                  ANTHROPIC_BASE_URL: "https://anthropic.upstream.test",
                  GROQ_API_KEY: "test-groq-key",
                  OPENAI_COMPATIBLE_PROVIDERS: JSON.stringify([
                    { name: "groq", base_url: "https://groq.upstream.test/openai", key_secret: "GROQ_API_KEY", models: ["llama-3.3-70b-versatile"] },
                    { name: "ollama", base_url: "http://ollama.upstream.test:11434" },
                  ]),
                  // One attempt per target unless a test turns retries on (test/pipeline/ sets them per call).
                  EDGEWAY_RETRIES: "0",
                  // The tests call `mock/...`; wrangler.toml leaves the mock off (test/hostile/mock-provider.test.ts).
                  MOCK_PROVIDER: "on",
                },
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            // A budget, not a timing check (timing goals live in bench/): tests that make dozens of calls in a row
            // ran past vitest's 5 s default on a loaded 2-core machine, and a timed-out test's calls then went on
            // into the next test's mocks.
            testTimeout: 20_000,
            exclude: ["test/e2e/**", "test/browser/**"],
            setupFiles: ["test/helpers/apply-migrations.ts"],
          },
        },
        {
          // The real SDKs in Node against the gateway running in wrangler's local runtime.
          test: {
            name: "e2e",
            environment: "node",
            include: ["test/e2e/**/*.test.ts"],
            globalSetup: ["test/e2e/global-setup.ts"],
            testTimeout: 30_000,
            hookTimeout: 120_000,
          },
        },
        {
          // The operator console in headless Chromium (`npm run test:browser`; not part of `npm test`).
          test: {
            name: "browser",
            environment: "node",
            include: ["test/browser/**/*.test.ts"],
            globalSetup: ["test/e2e/global-setup.ts"],
            testTimeout: 60_000,
            hookTimeout: 120_000,
          },
        },
      ],
    },
  };
});
