/** Keyset paging of a newest-first list (logs, resources): the cursors of the pages before this one, per filter. */
import { useState } from "preact/hooks";

export function usePages(filterKey: string) {
  const [pages, setPages] = useState<{ filterKey: string; cursors: (string | undefined)[] }>({ filterKey, cursors: [undefined] });
  // New filters start again from the newest page.
  const cursors = pages.filterKey === filterKey ? pages.cursors : [undefined];
  return {
    cursor: cursors[cursors.length - 1],
    count: cursors.length,
    first: () => setPages({ filterKey, cursors: [undefined] }),
    newer: () => setPages({ filterKey, cursors: cursors.slice(0, -1) }),
    older: (next: string) => setPages({ filterKey, cursors: [...cursors, next] }),
  };
}

/** "← Newer", the page number, "Older →" (enabled when the API gave a next cursor). */
export function Pager({ pages, next }: { pages: ReturnType<typeof usePages>; next: string | undefined }) {
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled={pages.count < 2} onClick={pages.newer}>
        ← Newer
      </button>
      <span class="muted">Page {pages.count}</span>
      <button type="button" disabled={!next} onClick={() => next && pages.older(next)}>
        Older →
      </button>
    </nav>
  );
}
