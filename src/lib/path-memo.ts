/**
 * What an isolate has read from request paths it saw lately (a route match, a model path): a call's path is mostly
 * one seen before (the same models, the same versions). Bounded: emptied when full, and a path longer than
 * MAX_REMEMBERED_PATH is read afresh and not kept. Values are shared between calls: for reading only.
 */
const MAX_REMEMBERED_PATH = 256;

export class PathMemo<T> {
  readonly #seen = new Map<string, T>();

  constructor(private readonly max: number) {}

  /** The value kept for `kind` and `path`, else `read()`'s, kept when `keep` says so. */
  get(kind: string, path: string, read: () => T, keep?: (v: T) => boolean): T {
    if (path.length > MAX_REMEMBERED_PATH) return read();
    const key = `${kind} ${path}`;
    let v = this.#seen.get(key);
    if (v === undefined) {
      v = read();
      if (!keep || keep(v)) {
        if (this.#seen.size >= this.max) this.#seen.clear();
        this.#seen.set(key, v);
      }
    }
    return v;
  }
}
