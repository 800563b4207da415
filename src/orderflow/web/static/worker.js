// The viewer stream's reader: owns the WebSocket to /ws/view (MessagePack binary frames,
// format=msgpack: smaller than the JSON text and encoded once for every viewer at the
// server), decodes every frame and merges
// them (latest wins for book, metrics and the other states; bounded appends for prints,
// signals and heat columns; bars by start_ts) until the page asks for the next frame's worth
// with {type: "pull"}. The page draws at its own pace; nothing here piles up beyond the caps.

import { decode } from "./msgpack.js";

const CAP = { prints: 4000, signals: 400, heat: 1200 };
const LATEST = ["book", "metrics", "profile", "vwap", "delta", "clusters", "account", "health", "replay"];

let url = null;
let ws = null;
let pending = empty();
let backoff = 500;
let status = "connecting";
let frames = 0;

function empty() {
  return { snapshot: null, prints: [], signals: [], heat: [], bars: new Map(), dropped: 0, walls: [] };
}

function append(list, items, cap) {
  for (const it of items) list.push(it);
  if (list.length > cap) list.splice(0, list.length - cap);
}

function merge(msg) {
  // when each frame left the server (its wall_ns), else when it arrived here: the page
  // measures event-to-pixel lag from it (epoch milliseconds, bounded)
  if (pending.walls.length < 256) {
    pending.walls.push(msg.wall_ns ? Number(msg.wall_ns) / 1e6 : performance.timeOrigin + performance.now());
  }
  if (msg.type === "snapshot") {
    // a snapshot replaces everything merged before it
    const walls = pending.walls;
    pending = empty();
    pending.walls = walls;
    pending.snapshot = msg;
    return;
  }
  if (msg.type !== "delta") return;
  for (const key of LATEST) if (key in msg) pending[key] = msg[key];
  if (msg.ts !== undefined) pending.ts = msg.ts;
  if (msg.prints) append(pending.prints, msg.prints, CAP.prints);
  if (msg.signals) append(pending.signals, msg.signals, CAP.signals);
  if (msg.heat) append(pending.heat, msg.heat, CAP.heat);
  if (msg.prints_dropped) pending.dropped += msg.prints_dropped;
  if (msg.bars) for (const b of msg.bars) pending.bars.set(b.start_ts, b);
}

function connect() {
  status = "connecting";
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => { status = "open"; backoff = 500; };
  ws.onmessage = (ev) => {
    frames += 1;
    let msg;
    try {
      msg = typeof ev.data === "string" ? JSON.parse(ev.data) : decode(ev.data);
    } catch (e) { return; }
    merge(msg);
  };
  ws.onclose = (ev) => {
    status = ev.code === 1013 ? "dropped (too slow)" : "closed";
    ws = null;
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 10000);
  };
  ws.onerror = () => {};
}

self.onmessage = (ev) => {
  const m = ev.data;
  if (m.type === "start") {
    url = m.url;
    connect();
  } else if (m.type === "pull") {
    const out = pending;
    pending = empty();
    out.bars = Array.from(out.bars.values());
    out.status = status;
    out.frames = frames;
    self.postMessage(out);
  }
};
