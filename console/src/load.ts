/** Loading data for a view: the value, the error (with the API's message) and a way to load again. */
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  /** True from the very render whose deps changed (or after `reload`) until that load has answered. */
  loading: boolean;
  reload: () => void;
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [tick, setTick] = useState(0);
  const [state, setState] = useState<{ data?: T; error?: Error; done: number }>({ done: -1 });
  // Which load the current deps ask for: a new number whenever a dep changes.
  const wanted = useRef({ deps: [] as unknown[], gen: -1 });
  const all = [...deps, tick];
  if (wanted.current.gen < 0 || all.length !== wanted.current.deps.length || all.some((d, i) => d !== wanted.current.deps[i])) {
    wanted.current = { deps: all, gen: wanted.current.gen + 1 };
  }
  const gen = wanted.current.gen;
  useEffect(() => {
    load().then(
      (data) => gen === wanted.current.gen && setState({ data, done: gen }),
      (error: unknown) =>
        gen === wanted.current.gen && setState((s) => ({ data: s.data, error: error instanceof Error ? error : new Error(String(error)), done: gen })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [gen]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data: state.data, error: state.done === gen ? state.error : undefined, loading: state.done !== gen, reload };
}
