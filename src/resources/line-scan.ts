/**
 * What an uploaded file's lines name, read as the upload streams through (src/routes/resources/files.ts), so that a
 * batch reading the file as its JSONL input is checked like one with inline requests (src/routes/resources/batches.ts):
 * Gemini files cannot be downloaded back, so this is the only look the gateway gets. Never more than one line is
 * held (at most `MAX_CHECKED_LINE` bytes), and a line is parsed only when it may name a field that matters (the rule
 * of the Live API's frames, src/live/setup.ts `mayName`: the name bare, quoted, or any ASCII escape). A line that
 * matters but cannot be read (not JSON, longer than the cap) leaves the file unchecked; a line naming what an inline
 * request may not (an SSRF address, an untracked resource) leaves it refused; either way it stays a file, just not
 * a batch input. The state between resumable chunks is small JSON plus the unfinished line's bytes (uploads table).
 */
import { badRequest, GatewayError } from "../gemini/errors";
import { LINE_KEYS } from "../gemini/resource-fields";
import { ASCII_ESCAPE } from "../live/setup";
import { inspectBody } from "../pipeline/body";
import { printable } from "../lib/target";
import { cacheName, geminiFileName } from "./references";

/** A line longer than this that may name a checked field cannot be checked (a batch refuses the file). */
export const MAX_CHECKED_LINE = 1024 * 1024;
/** Distinct files, caches and models a file's lines may name (each is looked up when a batch reads the file). */
export const MAX_NAMED = 1000;
/** Characters of a line kept between segments, so a field name split across two of them is still seen. */
const TAIL = 32;
const NL = 10;

/** The record of what a file's lines name (resources.meta `scan`; uploads.scan while in progress). */
export interface LineScan {
  /** Lines ended so far (line numbers in messages are 1-based). */
  lines: number;
  /** Gemini files (`files/…`), caches (`cachedContents/…`) and models (as spelled) the lines name. */
  files: string[];
  caches: string[];
  models: string[];
  /** Why a line would be refused inline (the refusal's message), if one would. */
  refused?: string;
  /** Why the file's lines could not be checked, if they could not. */
  unchecked?: string;
  /** In progress: the line so far may name a checked field; it is longer than the cap; its last characters. */
  named?: boolean;
  long?: boolean;
  tail?: string;
}

const decoder = new TextDecoder();

/**
 * `mayName(text, LINE_KEYS)` of src/live/setup.ts as one regular expression: one pass over a chunk rather than one
 * per name (every upload is read this way, so it is the cost that matters: about 170 MB/s).
 */
const MAY_NAME = new RegExp(`${LINE_KEYS.join("|")}|${ASCII_ESCAPE.source}`);
const mayName = (text: string) => MAY_NAME.test(text);
const fresh = (): LineScan => ({ lines: 0, files: [], caches: [], models: [] });

/** A new upload's record, stored when it starts: a session without one began before uploads were scanned. */
export const NEW_SCAN = JSON.stringify(fresh());

export class LineScanner {
  private readonly s: LineScan;
  /** The unfinished line's bytes, while it may still need parsing (`named` or not yet known). */
  private held: Uint8Array[] = [];
  private heldBytes = 0;

  /** `saved`: the upload's record so far (null: a session from before scanning); `carry`: its unfinished line. */
  constructor(private readonly fileHosts: ReadonlySet<string>, saved: string | null = NEW_SCAN, carry?: ArrayLike<number> | ArrayBuffer | null) {
    if (saved === null) {
      this.s = { ...fresh(), unchecked: "its upload began before the gateway read batch input files as they are uploaded" };
      return;
    }
    this.s = JSON.parse(saved) as LineScan;
    if (carry && !this.done()) {
      const bytes = carry instanceof ArrayBuffer ? new Uint8Array(carry) : Uint8Array.from(carry);
      if (bytes.byteLength) this.hold(bytes);
    }
  }

  private done() {
    return this.s.unchecked !== undefined || this.s.refused !== undefined;
  }

  /** The next bytes of the file. Never throws: what cannot be read leaves the file unchecked. */
  push(chunk: Uint8Array): void {
    if (this.done() || !chunk.byteLength) return;
    try {
      this.scan(chunk);
    } catch {
      this.s.unchecked = "its lines could not be read";
    }
  }

  private scan(chunk: Uint8Array): void {
    // UTF-16 or UTF-32 text spells every ASCII name with NULs between its letters, past any search: such a file
    // (and any binary one, which is no JSONL either) is not read as lines at all.
    if (chunk.indexOf(0) >= 0) {
      this.s.unchecked = "it is not UTF-8 text (it holds NUL bytes)";
      return;
    }
    // Most chunks name nothing: one search over the whole chunk (and the line's tail before it) decides.
    const text = decoder.decode(chunk);
    const any = mayName((this.s.tail ?? "") + text);
    let start = 0;
    while (!this.done()) {
      const nl = chunk.indexOf(NL, start);
      const end = nl < 0 ? chunk.byteLength : nl;
      const seg = chunk.subarray(start, end);
      if (any && !this.s.named && !this.s.long && !this.held.length && nl >= 0) {
        // A whole line inside this chunk: tested and parsed in place, nothing held.
        this.s.lines++;
        const t = decoder.decode(seg);
        if (mayName(t)) {
          if (seg.byteLength > MAX_CHECKED_LINE) {
            this.s.lines--;
            this.tooLong();
          } else this.check(t);
        }
        this.s.tail = "";
      } else if (!any && nl >= 0 && !this.s.named && !this.s.long && !this.held.length) {
        // A line that names nothing, and so every other line of the chunk up to its last newline.
        const last = chunk.lastIndexOf(NL);
        for (let i = nl; i >= 0 && i <= last; i = chunk.indexOf(NL, i + 1)) this.s.lines++;
        start = last + 1;
        this.s.tail = "";
        continue;
      } else {
        this.append(seg, any);
        if (nl >= 0) this.endLine();
      }
      if (nl < 0) break;
      start = nl + 1;
    }
  }

  /** Part of the unfinished line (`any`: the chunk it came from may name a field somewhere). */
  private append(seg: Uint8Array, any: boolean): void {
    if (!seg.byteLength) return;
    const end = decoder.decode(seg.subarray(-TAIL));
    if (any && mayName((this.s.tail ?? "") + decoder.decode(seg))) this.s.named = true;
    if (!this.s.long && this.heldBytes + seg.byteLength > MAX_CHECKED_LINE) {
      // Too long to hold: only its tail is kept from now on, to see a name split across segments.
      this.held = [];
      this.heldBytes = 0;
      this.s.long = true;
    }
    if (this.s.long && this.s.named) return this.tooLong();
    if (!this.s.long) this.hold(seg.slice());
    this.s.tail = ((this.s.tail ?? "") + end).slice(-TAIL);
  }

  private hold(bytes: Uint8Array): void {
    this.held.push(bytes);
    this.heldBytes += bytes.byteLength;
  }

  private endLine(): void {
    this.s.lines++;
    const named = this.s.named && !this.s.long;
    const line = named ? concat(this.held, this.heldBytes) : undefined;
    this.held = [];
    this.heldBytes = 0;
    this.s.named = this.s.long = false;
    this.s.tail = "";
    if (line) this.check(decoder.decode(line));
  }

  private tooLong(): void {
    this.s.unchecked = `line ${this.s.lines + 1} is longer than ${MAX_CHECKED_LINE} bytes and may name a file, cache or model, so it cannot be checked (upload large media with the Files API and refer to it by fileData.fileUri)`;
    this.held = [];
    this.heldBytes = 0;
  }

  /** A line that may name a checked field: parsed and inspected exactly as an inline request is. */
  private check(text: string): void {
    const n = this.s.lines;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      this.s.unchecked = `line ${n} is not JSON but may name a file, cache or model, so it cannot be checked`;
      return;
    }
    if (!v || typeof v !== "object" || Array.isArray(v)) {
      this.s.unchecked = `line ${n} is not a JSON object but may name a file, cache or model, so it cannot be checked`;
      return;
    }
    let refs;
    try {
      refs = inspectBody(v);
    } catch (e) {
      if (!(e instanceof GatewayError)) throw e;
      this.s.refused = `line ${n}: ${e.message}`;
      return;
    }
    const o = v as { model?: unknown; request?: { model?: unknown } };
    const request = o.request && typeof o.request === "object" ? o.request : undefined;
    for (const c of refs.caches) this.name(this.s.caches, cacheName(c));
    for (const u of refs.fileUris) {
      const f = geminiFileName(u, this.fileHosts);
      if (f) this.name(this.s.files, f);
    }
    for (const m of [o.model, request?.model]) if (m !== undefined) this.name(this.s.models, typeof m === "string" ? m.slice(0, 300) : JSON.stringify(m).slice(0, 300));
  }

  private name(list: string[], x: string): void {
    if (list.includes(x)) return;
    if (this.s.files.length + this.s.caches.length + this.s.models.length >= MAX_NAMED) {
      this.s.unchecked = `its lines name more than ${MAX_NAMED} distinct files, caches and models`;
      return;
    }
    list.push(x);
  }

  /** What to keep until the next chunk: the record, and the unfinished line's bytes when it may still be parsed. */
  save(): { scan: string; carry: Uint8Array | null } {
    const carry = this.held.length && !this.done() ? concat(this.held, this.heldBytes) : null;
    return { scan: JSON.stringify(this.s), carry };
  }

  /** The file is complete: its last line (if it has no newline at its end) is checked too. */
  finish(): LineScan {
    if (!this.done() && (this.heldBytes || this.s.long || this.s.named)) this.endLine();
    const { named: _n, long: _l, tail: _t, ...record } = this.s;
    return record;
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Why `file` (a resource row's meta) cannot be a batch's input, or its record when it can. */
export function scanOf(meta: string | null, name: string): LineScan {
  const scan = meta ? (JSON.parse(meta) as { scan?: LineScan }).scan : undefined;
  const refuse = (why: string) => badRequest(`file "${printable(name)}" cannot be a batch's input: ${why}`);
  if (!scan) throw refuse("it was uploaded before the gateway checked batch input files as they are uploaded (or not through the gateway), so what its requests use is unknown: upload it again");
  if (scan.unchecked) throw refuse(`${scan.unchecked}`);
  if (scan.refused) throw refuse(scan.refused);
  return scan;
}
