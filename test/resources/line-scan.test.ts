/**
 * The upload-time reading of a JSONL batch input (src/resources/line-scan.ts): whatever the chunking (one byte at a
 * time, a field name or an escape or a UTF-8 character cut in two, a line carried from one resumable request to the
 * next through its saved state), it finds what the lines name, and leaves unchecked what it cannot read.
 */
import { describe, expect, it } from "vitest";
import { LineScanner, MAX_CHECKED_LINE, MAX_NAMED, scanOf, type LineScan } from "../../src/resources/line-scan";

const HOSTS = new Set(["generativelanguage.googleapis.com"]);
const enc = new TextEncoder();
const line = (request: Record<string, unknown>) => JSON.stringify({ key: "k", request: { contents: [{ role: "user", parts: [{ text: "héllo ü" }] }], ...request } });

/** Scans `text` cut into chunks of `size` bytes, each chunk a new "request" (saved and restored) when `resume`. */
function scan(text: string, size = Infinity, resume = false): LineScan {
  const bytes = enc.encode(text);
  let s = new LineScanner(HOSTS);
  for (let i = 0; i < bytes.length; i += size) {
    s.push(bytes.subarray(i, Math.min(bytes.length, i + size)));
    if (resume) {
      const { scan, carry } = s.save();
      // Through JSON and D1's BLOB-as-array-of-numbers, as the uploads row keeps it.
      s = new LineScanner(HOSTS, JSON.parse(JSON.stringify(scan)), carry && Array.from(carry));
    }
  }
  return s.finish();
}

const FILE = [
  line({}),
  line({ cachedContent: "cachedContents/abc" }),
  `{"key":"e","request":{"cached\\u0043ontent":"esc1","contents":[{"parts":[{"\\u0066ileData":{"fileUri":"https://generativelanguage.googleapis.com/v1beta/files/f1"}}]}]}}`,
  line({ contents: [{ parts: [{ file_data: { file_uri: "https://generativelanguage.googleapis.com/v1beta/files/f2" } }] }] }),
  line({ contents: [{ parts: [{ fileData: { fileUri: "https://example.com/public.pdf" } }] }] }),
  line({ model: "models/gemini-2.0-flash" }),
  "",
  line({ contents: [{ parts: [{ text: "a model answer" }] }] }),
].join("\n");

const EXPECTED = {
  files: ["files/f1", "files/f2"],
  caches: ["cachedContents/abc", "cachedContents/esc1"],
  models: ["models/gemini-2.0-flash"],
};

describe("LineScanner", () => {
  it("finds every file, cache and model the lines name, however the bytes are cut", () => {
    const whole = scan(FILE + "\n");
    expect(whole).toMatchObject(EXPECTED);
    expect(whole.unchecked).toBeUndefined();
    expect(whole.refused).toBeUndefined();
    for (const size of [1, 2, 3, 7, 64, 1000]) {
      for (const resume of [false, true]) {
        const r = scan(FILE + "\n", size, resume);
        expect({ ...r, files: [...r.files].sort(), caches: [...r.caches].sort() }, `${size} ${resume}`).toMatchObject(EXPECTED);
        expect(r.unchecked ?? r.refused).toBeUndefined();
      }
    }
    // The last line needs no newline.
    expect(scan(line({ cachedContent: "cachedContents/last" }), 5, true).caches).toEqual(["cachedContents/last"]);
  });

  it("refuses what an inline request may not name, with the line's number", () => {
    const ssrf = scan([line({}), line({ contents: [{ parts: [{ fileData: { fileUri: "http://169.254.169.254/x" } }] }] })].join("\n"), 9, true);
    expect(ssrf.refused).toMatch(/^line 2: fileData\.fileUri "http:\/\/169\.254\.169\.254\/x" is refused/);
    expect(scan(line({ tools: [{ fileSearch: { fileSearchStoreNames: ["fileSearchStores/x"] } }] })).refused).toContain("fileSearchStoreNames");
    expect(() => scanOf(JSON.stringify({ scan: ssrf }), "files/x")).toThrow(/line 2/);
  });

  it("leaves unchecked a line it cannot read: lenient JSON, not an object, too long", () => {
    expect(scan(`{key: "k", request: {cachedContent: "cachedContents/x"}}\n`).unchecked).toMatch(/line 1 is not JSON/);
    expect(scan(`["cachedContent"]\n`).unchecked).toMatch(/not a JSON object/);
    const big = "A".repeat(MAX_CHECKED_LINE + 10);
    // A name after the cap, before it, or cut across the segment where the line outgrew it.
    for (const l of [line({ contents: [{ parts: [{ text: big }] }], cachedContent: "c" }), line({ cachedContent: "c", contents: [{ parts: [{ text: big }] }] })]) {
      expect(scan(l + "\n", 65536, true).unchecked).toMatch(/longer than/);
      expect(scan(l + "\n").unchecked).toMatch(/longer than/);
    }
    const cut = `{"x":"${"A".repeat(MAX_CHECKED_LINE - 20)}","cachedContent":"c"}\n`;
    expect(scan(cut, MAX_CHECKED_LINE - 5, true).unchecked).toMatch(/longer than/);
    // A long line naming nothing is no problem, and the next line is read again.
    const fine = scan(`{"x":"${big}"}\n${line({ cachedContent: "after" })}\n`, 65536, true);
    expect(fine.unchecked).toBeUndefined();
    expect(fine.caches).toEqual(["cachedContents/after"]);
  });

  it("does not read UTF-16 (or binary) files as lines: it leaves them unchecked", () => {
    const utf16 = new Uint8Array(Buffer.from(line({ cachedContent: "cachedContents/x" }) + "\n", "utf16le"));
    const s = new LineScanner(HOSTS);
    s.push(utf16);
    expect(s.finish().unchecked).toMatch(/not UTF-8/);
  });

  it("bounds what it records, and knows an upload from before scanning", () => {
    const many = Array.from({ length: MAX_NAMED + 1 }, (_, i) => line({ cachedContent: `c${i}` })).join("\n");
    expect(scan(many).unchecked).toMatch(/more than 1000/);
    const old = new LineScanner(HOSTS, null);
    old.push(enc.encode(line({}) + "\n"));
    expect(old.finish().unchecked).toMatch(/before/);
    expect(() => scanOf(null, "files/old")).toThrow(/upload it again/);
  });
});
