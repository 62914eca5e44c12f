/** Prints one plain closing line, `N passed, N failed, N skipped`, that any CI log reader understands. */
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>) {
    const n = { passed: 0, failed: 0, skipped: 0 };
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === "passed") n.passed++;
        else if (s === "failed") n.failed++;
        else n.skipped++;
      }
      if (m.state() === "failed" && !m.children.size) n.failed++; // a file that failed to load
    }
    console.log(`\n${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped`);
  }
}
