/** Vite's `?raw` imports: a file's text (used for SSE fixtures). */
declare module "*?raw" {
  const text: string;
  export default text;
}
