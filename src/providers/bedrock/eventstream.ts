/**
 * The AWS event-stream framing (`application/vnd.amazon.eventstream`), decoded as bytes arrive: each message is a
 * 12-byte prelude (total length, headers length, CRC32 of those 8 bytes), headers, a payload and a CRC32 of all that
 * precedes it. A network chunk may end anywhere; only the bytes of the message being read are held (a message
 * larger than MAX_MESSAGE_BYTES is refused rather than buffered), and a checksum that does not match ends the stream.
 */
import type { ByteParser } from "../../streaming/parser";

export interface EventMessage {
  headers: Record<string, string>;
  payload: Uint8Array;
}

/** Far above any ConverseStream event; a prelude claiming more is corrupt or hostile. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
const PRELUDE = 12;
const MIN_MESSAGE = PRELUDE + 4;

export class EventStreamError extends Error {}

/** `onBytes` hears of every network chunk (liveness, for timeouts). */
export function eventStreamEvents(onBytes?: () => void): ByteParser<EventMessage> {
  let buf: Uint8Array = new Uint8Array(0);
  return {
    push(chunk, emit) {
      onBytes?.();
      buf = buf.length ? concat(buf, chunk) : chunk;
      let start = 0;
      while (buf.length - start >= PRELUDE) {
        const view = new DataView(buf.buffer, buf.byteOffset + start, buf.length - start);
        const total = view.getUint32(0);
        const headersLength = view.getUint32(4);
        if (crc32(buf.subarray(start, start + 8)) !== view.getUint32(8)) throw new EventStreamError("event-stream prelude checksum mismatch");
        if (total < MIN_MESSAGE || total > MAX_MESSAGE_BYTES || headersLength > total - MIN_MESSAGE) {
          throw new EventStreamError(`event-stream message length ${total} out of bounds`);
        }
        if (buf.length - start < total) break;
        const msg = buf.subarray(start, start + total);
        if (crc32(msg.subarray(0, total - 4)) !== view.getUint32(total - 4)) throw new EventStreamError("event-stream message checksum mismatch");
        emit({
          headers: readHeaders(msg.subarray(PRELUDE, PRELUDE + headersLength)),
          // A copy: the buffer it sits in is reused for the next network chunk.
          payload: msg.slice(PRELUDE + headersLength, total - 4),
        });
        start += total;
      }
      buf = start ? buf.slice(start) : buf;
    },
    end() {
      if (buf.length) throw new EventStreamError("event-stream ended inside a message");
    },
  };
}

const decoder = new TextDecoder();

/** Header values the gateway reads are strings; other types are skipped by their sizes. */
function readHeaders(b: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const view = new DataView(b.buffer, b.byteOffset, b.length);
  let i = 0;
  while (i < b.length) {
    const nameLength = b[i]!;
    const name = decoder.decode(b.subarray(i + 1, i + 1 + nameLength));
    i += 1 + nameLength;
    const type = b[i++];
    switch (type) {
      case 0:
      case 1:
        break;
      case 2:
        i += 1;
        break;
      case 3:
        i += 2;
        break;
      case 4:
        i += 4;
        break;
      case 5:
      case 8:
        i += 8;
        break;
      case 9:
        i += 16;
        break;
      case 6:
      case 7: {
        const len = view.getUint16(i);
        if (type === 7) out[name] = decoder.decode(b.subarray(i + 2, i + 2 + len));
        i += 2 + len;
        break;
      }
      default:
        throw new EventStreamError(`event-stream header "${name}" has unknown type ${type}`);
    }
    if (i > b.length) throw new EventStreamError("event-stream headers overrun");
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3), as the event-stream checksums use. */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
