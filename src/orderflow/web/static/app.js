// The dashboard's entry point: picks the instrument, starts the stream worker, applies what it
// merged once per animation frame and paints the panels that changed, in that frame only.
// `window.orderflowDash` exposes what the page shows (ladder text, footprint cells drawn,
// signals listed) and its frame timings: the browser tests and the benchmark read them.

import { Heatmap } from "./heatmap.js";
import { Ladder } from "./ladder.js";
import { Footprint } from "./footprint.js";
import { Candles } from "./candles.js";
import { Account, Health, Replay, Signals, Sparks, Tape } from "./panels.js";
import { $, fmtPrice } from "./util.js";

const params = new URLSearchParams(location.search);
// a token on the page's URL is kept for the tab: the stream, the backfill and the controls
// send it (the kill switch and the replay bar ask for it when it is missing)
if (params.get("token")) sessionStorage.setItem("orderflow.token", params.get("token"));
const token = sessionStorage.getItem("orderflow.token");
const authHeaders = token ? { authorization: `Bearer ${token}` } : {};
const TIMINGS = 8192; // frame times and lags kept (ring)

const heat = new Heatmap($("heatcanvas"));
const ladder = new Ladder($("ladderrows"), $("ladderinfo"));
const fp = new Footprint($("fpcanvas"), $("fpinfo"));
const candles = new Candles($("chart"), $("levels"));
const sparks = new Sparks($("sparks"));
const tape = new Tape($("taperows"), $("minsize"));
const signals = new Signals($("sigrows"), $("sigcount"));
const account = new Account($("acct"), $("acctname"), $("kill"));
const health = new Health();
const replay = new Replay();

// sizes are read only after a resize, never in every frame (that would force a layout)
new ResizeObserver(() => {
  heat.needResize = true;
  fp.needResize = true;
  ladder.fit = null;
  ladder.dirty = true;
}).observe(document.body);

const recent = { prints: [], signals: [] }; // what the heatmap overlays (bounded)
let tick = 0.25;
let last = null;
let lastDirty = false;

const perf = {
  frames: new Float64Array(TIMINGS), nframes: 0,
  lags: new Float64Array(TIMINGS), nlags: 0,
  firstPaint: null, snapshotAt: null, applied: 0, pendingWall: [],
  marks: { modules: performance.now() }, // when each step of loading was done (ms)
};

function cap(list, n) { if (list.length > n * 1.25) list.splice(0, list.length - n); }

function setTick(t) {
  tick = t;
  for (const p of [heat, ladder, fp, candles]) p.reset(t);
  tape.tick = signals.tick = account.tick = t;
  tape.prints.clear();
  tape.dirty = true;
  signals.items.clear();
  signals.dirty = true;
}

function apply(m, isSnapshot) {
  if (isSnapshot) {
    setTick(m.tick_size || 0.25);
    recent.prints = [];
    recent.signals = [];
    candles.load(m.bars || [], m.delta);
    sparks.load(m.metrics_history || []);
    perf.snapshotAt = performance.now();
    if (m.heat && m.heat.length) backfillHeat(m.instrument, m.heat[0].ts, m.heat.length);
  } else if (m.bars && m.bars.length) {
    candles.updateBars(m.bars);
  }
  if (m.book) ladder.setBook(m.book);
  if (m.heat && m.heat.length) {
    const t0 = performance.now();
    heat.add(m.heat);
    const ms = performance.now() - t0;
    if (!(perf.slowest.heatAdd >= ms)) perf.slowest.heatAdd = ms;
  }
  if (m.bars && m.bars.length) fp.setBars(m.bars);
  if (m.profile !== undefined && m.profile !== null) { fp.setProfile(m.profile); candles.setProfile(m.profile); }
  if (m.vwap) candles.setVwap(m.vwap);
  if (m.delta) candles.setDelta(m.delta);
  if (m.metrics) {
    sparks.push(m.metrics);
    if (Number.isFinite(m.metrics.last)) { last = m.metrics.last; lastDirty = true; }
  }
  if (m.prints && m.prints.length) {
    tape.add(m.prints);
    ladder.addPrints(m.prints);
    for (const p of m.prints) recent.prints.push(p);
    cap(recent.prints, 3000);
    last = m.prints[m.prints.length - 1][1];
    lastDirty = true;
  }
  if (m.signals && m.signals.length) {
    signals.add(m.signals);
    for (const s of m.signals) recent.signals.push(s);
    cap(recent.signals, 400);
  }
  if (m.account !== undefined) { account.set(m.account); candles.setAccount(m.account); }
  if (m.clusters !== undefined) heat.setClusters(m.clusters);
  if (m.health) { health.set(m.health); signals.setAlerts(m.health.alerts); }
  if (m.replay !== undefined) {
    replay.set(m.replay);
    health.replaying = !!m.replay;
    health.dirty = true;
  }
  heat.dirty = true;
}

// --- the stream worker: asked for its merged frames once per animation frame
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
let awaiting = false;
let streaming = false; // a result page has no stream
worker.onmessage = (ev) => {
  awaiting = false;
  const out = ev.data;
  const t0 = performance.now();
  health.setStatus(out.status);
  if (out.snapshot) {
    perf.marks.snapshotReceived = t0;
    apply(out.snapshot, true);
  }
  const delta = { ...out, bars: out.bars, snapshot: undefined };
  const has = out.prints.length || out.signals.length || out.heat.length || out.bars.length ||
    ["book", "metrics", "profile", "vwap", "delta", "account", "health", "replay"].some((k) => k in out);
  if (has) {
    apply(delta, false);
    perf.applied += 1;
  }
  // event-to-pixel: from each frame's send time at the server (else its arrival in the worker)
  // to the end of the animation frame that draws it
  for (const w of out.walls) perf.pendingWall.push(w);
  const ms = performance.now() - t0;
  if (!(slowest.apply >= ms)) slowest.apply = ms;
};

// the longest time each panel took to paint (ms): where a long frame comes from
const slowest = {};
perf.slowest = slowest;

function timed(name, fn) {
  const t0 = performance.now();
  fn();
  const ms = performance.now() - t0;
  if (!(slowest[name] >= ms)) slowest[name] = ms;
}

function paint(now) {
  heat.resize();
  fp.resize();
  if (heat.dirty) timed("heatmap", () => { heat.paint(recent.prints, recent.signals); heat.dirty = false; });
  timed("ladder", () => ladder.paint());
  timed("footprint", () => fp.paint());
  timed("candles", () => candles.paint());
  timed("sparks", () => sparks.paint(now));
  timed("tape", () => tape.paint());
  timed("signals", () => signals.paint());
  account.paint();
  health.paint();
  replay.paint();
  if (lastDirty) { $("last").textContent = fmtPrice(last, tick); lastDirty = false; }
}

function frame(now) {
  perf.frames[perf.nframes % TIMINGS] = now;
  perf.nframes += 1;
  const t0 = performance.now();
  paint(now);
  const ms = performance.now() - t0; // this frame's own work on the main thread
  if (!(slowest.frame >= ms)) slowest.frame = ms;
  if (perf.pendingWall.length) {
    const t = performance.timeOrigin + performance.now();
    for (const w of perf.pendingWall) { perf.lags[perf.nlags % TIMINGS] = t - w; perf.nlags += 1; }
    perf.pendingWall.length = 0;
  }
  // first paint: the end of the first frame that drew a snapshot (ms since navigation start)
  if (perf.firstPaint === null && perf.snapshotAt !== null) perf.firstPaint = performance.now();
  if (streaming && !awaiting) { awaiting = true; worker.postMessage({ type: "pull" }); }
  requestAnimationFrame(frame);
}

// more than one instrument: a menu in the top bar (the page reloads on the one chosen)
function offerInstruments(names, current) {
  const sel = document.createElement("select");
  sel.title = "instrument";
  for (const n of names) sel.append(new Option(n, n, false, n === current));
  sel.addEventListener("change", () => {
    const q = new URLSearchParams(location.search);
    q.set("instrument", sel.value);
    location.search = q.toString();
  });
  $("instrument").replaceWith(sel);
  sel.id = "instrument";
}

// the heatmap wider than the snapshot's columns: the ones before them from the backfill
async function backfillHeat(inst, firstTs, have) {
  const need = Math.ceil(heat.plotWidth() / heat.colW) - have;
  if (!inst || need <= 0) return;
  const q = new URLSearchParams({ to_ts: String(firstTs - 1000), limit: String(Math.min(2400, need)) });
  try {
    const r = await fetch(`/api/view/${encodeURIComponent(inst)}/heat?${q}`, { headers: authHeaders });
    if (!r.ok) return;
    const cols = (await r.json()).columns || [];
    if (cols.length) { heat.prepend(cols); heat.dirty = true; }
  } catch (e) { /* the stream goes on without the older columns */ }
}

async function pickInstrument() {
  const given = params.get("instrument");
  for (;;) {
    try {
      const r = await fetch("/api/view/instruments", { headers: authHeaders });
      if (r.ok) {
        const body = await r.json();
        if (body.replay) { replay.set(body.replay); health.replaying = true; }
        const list = body.instruments || [];
        const hit = list.find((i) => i.instrument === given) || (given ? null : list[0]);
        if (list.length > 1) offerInstruments(list.map((i) => i.instrument), hit ? hit.instrument : given);
        if (hit && hit.simulated) {
          // orderflow's simulated market, not exchange data: said where the trader looks first
          const flag = document.createElement("span");
          flag.className = "flag bad";
          flag.id = "simulated";
          flag.textContent = "SIMULATED MARKET";
          flag.title = "orderflow run without a recording: a simulated market, not exchange data";
          $("conn").after(flag);
        }
        if (hit) return hit.instrument;
        if (given) return given;
      }
    } catch (e) { /* the server is starting: try again */ }
    health.setStatus("waiting for data");
    await new Promise((res) => setTimeout(res, 1000));
  }
}

async function start() {
  requestAnimationFrame(frame);
  if (params.get("result")) {
    // a backtest's result: no stream, the trades and the equity curve
    const { openResult } = await import("./results.js");
    perf.result = await openResult(params.get("result"), { candles, fp, token });
    return;
  }
  const inst = await pickInstrument();
  perf.marks.instrument = performance.now();
  if ($("instrument").tagName !== "SELECT") $("instrument").textContent = inst;
  document.title = `${inst} - orderflow`;
  const q = new URLSearchParams({ instrument: inst, levels: "20", format: "msgpack" });
  if (token) q.set("token", token);
  const proto = location.protocol === "https:" ? "wss" : "ws";
  worker.postMessage({ type: "start", url: `${proto}://${location.host}/ws/view?${q}` });
  streaming = true;
}

const heatLayer = (name) => (on) => { heat.layers[name] = on; heat.dirty = true; };

window.orderflowDash = {
  perf,
  heatmap: heat,
  ladderText: () => ladder.text(),
  footprintCells: () => fp.drawn,
  footprintView: () => fp.view,
  // a result page: the trades listed (number, net as shown), the markers and the equity curve
  resultView: () => ({
    trades: Array.from(document.querySelectorAll("#sigrows tr")).map((tr) => [
      Number(tr.dataset.number), tr.lastChild.textContent]),
    markers: candles.markers || [],
    equity: candles.equity || [],
  }),
  levelsText: () => $("levels").textContent,
  // the account's round trips as listed (newest first) and the fills' markers on the candles
  accountTrades: () => Array.from(document.querySelectorAll("#acct table.trades tr")).map((tr) => ({
    number: Number(tr.dataset.number),
    cells: Array.from(tr.children).map((td) => td.textContent),
  })),
  fillMarkers: () => candles.fillMarks || [],
  signalIds: () => Array.from(document.querySelectorAll("#sigrows tr[data-id]")).map((tr) => ({
    id: Number(tr.dataset.id),
    kind: tr.querySelector(".kind").textContent,
    price: tr.querySelector(".price").textContent,
  })),
  setDots: heatLayer("dots"),
  setMarks: heatLayer("marks"),
  setLines: heatLayer("lines"),
  setClusters: heatLayer("clusters"),
  // the cluster bands drawn on the heatmap's last paint: id, kind, low, high, y0, y1, x0, alpha
  clustersDrawn: () => heat.drawnClusters,
  frameTimes: () => {
    const n = Math.min(perf.nframes, TIMINGS);
    const out = [];
    for (let i = perf.nframes - n; i < perf.nframes; i++) out.push(perf.frames[i % TIMINGS]);
    return out;
  },
  lagTimes: () => {
    const n = Math.min(perf.nlags, TIMINGS);
    const out = [];
    for (let i = perf.nlags - n; i < perf.nlags; i++) out.push(perf.lags[i % TIMINGS]);
    return out;
  },
};

start();
