/**
 * A loopback Gemini Live upstream: a WebSocket server speaking the BidiGenerateContent protocol as Gemini does
 * (JSON messages in binary frames): setup → setupComplete, text turns (clientContent), audio (realtimeInput, echoed
 * back as the model's audio), tool calls and responses, usageMetadata per turn, session resumption handles, goAway.
 * Tests drive anything else (closes, goAway, raw frames) through the session objects it records.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData, type WebSocket } from "ws";

export interface Frame {
  data: Buffer;
  binary: boolean;
  json?: any;
}

export interface UpstreamSession {
  /** The upgrade request as the gateway sent it. */
  url: string;
  headers: http.IncomingHttpHeaders;
  ws: WebSocket;
  frames: Frame[];
  /** The setup message (the first frame). */
  setup: Promise<any>;
  /** The close the gateway sent: code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  /** Sends a message as Gemini does (a binary frame of JSON), or as text. */
  send(msg: unknown, opts?: { text?: boolean }): void;
  /** Resolves with the first frame (seen or to come) that `match` accepts. */
  frame(match: (f: Frame) => boolean): Promise<Frame>;
}

export interface LiveUpstreamMock {
  /** What GEMINI_BASE_URL is set to. */
  url: string;
  sessions: UpstreamSession[];
  /** The next session to connect (or the latest, if `latest` and one has). */
  next(): Promise<UpstreamSession>;
  /** Usage the mock reports at the end of turn `n` (1-based); per turn, as Gemini does. */
  usage: (turn: number) => unknown;
  /** Whether setupComplete is answered (false: the session stays unset, for tests of what happens before). */
  answerSetup: boolean;
  close(): Promise<void>;
}

export const defaultUsage = (turn: number) => ({
  promptTokenCount: 100 * turn,
  responseTokenCount: 20,
  totalTokenCount: 100 * turn + 20,
  promptTokensDetails: [{ modality: "TEXT", tokenCount: 100 * turn }],
  responseTokensDetails: [{ modality: "TEXT", tokenCount: 20 }],
});

export async function liveUpstream(): Promise<LiveUpstreamMock> {
  const server = http.createServer((_req, res) => res.writeHead(426).end("upgrade required"));
  const wss = new WebSocketServer({ server });
  const waiting: ((s: UpstreamSession) => void)[] = [];
  const mock: LiveUpstreamMock = {
    url: "",
    sessions: [],
    usage: defaultUsage,
    answerSetup: true,
    next: () => new Promise((r) => waiting.push(r)),
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };

  wss.on("connection", (ws, req) => {
    const frames: Frame[] = [];
    const watchers: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
    let setupResolve!: (v: any) => void;
    let turn = 0;
    const session: UpstreamSession = {
      url: req.url!,
      headers: req.headers,
      ws,
      frames,
      setup: new Promise((r) => (setupResolve = r)),
      closed: new Promise((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() }))),
      send(msg, opts = {}) {
        const s = JSON.stringify(msg);
        ws.send(opts.text ? s : Buffer.from(s), { binary: !opts.text });
      },
      frame(match) {
        const seen = frames.find(match);
        if (seen) return Promise.resolve(seen);
        return new Promise((resolve) => watchers.push({ match, resolve }));
      },
    };
    const endTurn = () => {
      turn++;
      session.send({ serverContent: { turnComplete: true }, usageMetadata: mock.usage(turn) });
    };
    ws.on("message", (data: RawData, binary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      const f: Frame = { data: buf, binary };
      try {
        f.json = JSON.parse(buf.toString("utf8"));
      } catch {
        // Not JSON: a raw frame a test sent.
      }
      frames.push(f);
      for (const w of watchers.splice(0)) (w.match(f) ? w.resolve(f) : watchers.push(w));
      const m = f.json;
      if (!m) return;
      if (m.setup) {
        setupResolve(m.setup);
        if (!mock.answerSetup) return;
        session.send({ setupComplete: {} });
        if (m.setup.sessionResumption) session.send({ sessionResumptionUpdate: { newHandle: `handle-${mock.sessions.length}-${turn}`, resumable: true } });
      } else if (m.clientContent?.turns) {
        const text = m.clientContent.turns.flatMap((t: any) => t.parts ?? []).map((p: any) => p.text ?? "").join("");
        if (text === "call a tool") {
          session.send({ toolCall: { functionCalls: [{ id: "call-1", name: "get_weather", args: { city: "Paris" } }] } });
          return;
        }
        session.send({ serverContent: { modelTurn: { parts: [{ text: `echo: ${text}` }] } } });
        endTurn();
      } else if (m.toolResponse) {
        const r = m.toolResponse.functionResponses?.[0];
        session.send({ serverContent: { modelTurn: { parts: [{ text: `tool said: ${JSON.stringify(r?.response)}` }] } } });
        endTurn();
      } else if (m.realtimeInput?.audio) {
        // The model "answers" with the same audio, so a test can check the bytes made the round trip unchanged.
        const a = m.realtimeInput.audio;
        session.send({ serverContent: { modelTurn: { parts: [{ inlineData: { mimeType: "audio/pcm;rate=24000", data: a.data } }] } } });
        turn++;
        session.send({
          serverContent: { turnComplete: true },
          usageMetadata: {
            promptTokenCount: 32, responseTokenCount: 25, totalTokenCount: 57,
            promptTokensDetails: [{ modality: "AUDIO", tokenCount: 32 }],
            responseTokensDetails: [{ modality: "AUDIO", tokenCount: 25 }],
          },
        });
      }
    });
    mock.sessions.push(session);
    for (const w of waiting.splice(0)) w(session);
  });

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return mock;
}
