import { applyD1Migrations, env } from "cloudflare:test";

// Idempotent: the setup file runs before each test file.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
