/** Allow-list globs: `*` matches any run of characters (`gemini-*`, `openai/*`, `*`). */
const compiled = new Map<string, RegExp>();

function toRegExp(glob: string): RegExp {
  let re = compiled.get(glob);
  if (!re) {
    re = new RegExp(`^${glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(glob, re);
  }
  return re;
}

export const matchesGlob = (glob: string, value: string) => toRegExp(glob).test(value);
export const matchesAny = (globs: readonly string[], value: string) => globs.some((g) => matchesGlob(g, value));
