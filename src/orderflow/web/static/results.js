// A backtest's result folder (`/?result=NAME`, served by `orderflow view RESULT_DIR` as
// GET /api/results/NAME): the trades on the candles (entries as arrows, exits as circles with
// the net P&L), the equity curve in the lower pane, the trades listed and the statistics.

import { createSeriesMarkers } from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import uPlot from "./vendor/uplot/uPlot.esm.js";
import { $, el, fmtNum, fmtTime } from "./util.js";

// a time as data-clock nanoseconds: ns integers, epoch seconds, or ISO text
export function toNs(t) {
  if (t === null || t === undefined || t === "") return null;
  if (typeof t === "number") return t > 1e15 ? t : t * 1e9;
  const n = Number(t);
  if (Number.isFinite(n)) return n > 1e15 ? n : n * 1e9;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms * 1e6 : null;
}

const sec = (ns) => Math.floor(ns / 1e9);

// the equity curve and its drawdown, large, where the heatmap stands in a live run
function drawEquity(rows) {
  const xs = [], eq = [], dd = [];
  for (const row of rows) {
    const [t, equity, drawdown] = Array.isArray(row) ? row : [row.ts_ns ?? row.ts, row.equity, row.drawdown];
    const ns = toNs(t);
    if (ns === null) continue;
    xs.push(ns / 1e9);
    eq.push(Number(equity));
    dd.push(Number(drawdown));
  }
  const host = $("heatcanvas").parentElement;
  $("heatcanvas").hidden = true;
  $("heat").querySelector("h2").firstChild.textContent = "Equity and drawdown ";
  $("heatinfo").textContent = xs.length ? `${fmtNum(eq[eq.length - 1], 2)} at the end` : "no equity rows";
  if (xs.length < 2) return;
  const axis = { stroke: "#9aa6b5", grid: { stroke: "#1a212c" }, ticks: { stroke: "#242c38" } };
  new uPlot({
    width: host.clientWidth, height: host.clientHeight - 4,
    cursor: { show: true }, legend: { show: true },
    scales: { x: { time: true }, y: {}, dd: {} },
    // data-clock times in UTC, as everywhere on the page
    axes: [{ ...axis, values: (u, splits) => splits.map((v) => new Date(v * 1000).toISOString().slice(11, 16)) },
      { ...axis, scale: "y" }, { ...axis, scale: "dd", side: 1, grid: { show: false } }],
    series: [{}, { label: "equity", stroke: "#4aa3ff", width: 2 },
      { label: "drawdown", stroke: "#ff5a4f", fill: "rgba(255,90,79,0.15)", scale: "dd" }],
  }, [xs, eq, dd], host);
}

export async function openResult(name, { candles, fp, token }) {
  $("instrument").textContent = `result ${name}`;
  document.body.classList.add("result");
  $("ladderinfo").textContent = "live and replay only";
  document.title = `${name} - orderflow`;
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const r = await fetch(`/api/results/${encodeURIComponent(name)}`, { headers });
  if (!r.ok) {
    $("conn").textContent = `result ${name}: HTTP ${r.status}`;
    $("conn").className = "flag bad";
    return null;
  }
  const body = await r.json();
  $("conn").textContent = "backtest result";
  $("conn").className = "flag ok";
  const bars = body.bars || [];
  const trades = body.trades || [];
  if (bars.length) {
    candles.load(bars, null);
    fp.setBars(bars);
  }
  const starts = bars.map((b) => sec(b.start_ts)).sort((a, b) => a - b);
  // markers sit on a bar: the last bar starting at or before the time
  const snap = (s) => {
    if (!starts.length) return s;
    let lo = 0, hi = starts.length - 1;
    if (s < starts[0]) return starts[0];
    while (lo < hi) { const m = (lo + hi + 1) >> 1; if (starts[m] <= s) lo = m; else hi = m - 1; }
    return starts[lo];
  };
  const markers = [];
  for (const t of trades) {
    const long = String(t.direction || t.side || "").toLowerCase().startsWith("l") || Number(t.direction) > 0;
    const opened = toNs(t.opened_t ?? t.opened ?? t.entry_ts);
    const closed = toNs(t.closed_t ?? t.closed ?? t.exit_ts);
    if (opened !== null) {
      markers.push({ time: snap(sec(opened)), position: long ? "belowBar" : "aboveBar",
        color: long ? "#3ddc84" : "#ff5a4f", shape: long ? "arrowUp" : "arrowDown", text: long ? "L" : "S" });
    }
    if (closed !== null) {
      const net = Number(t.net ?? t.pnl);
      markers.push({ time: snap(sec(closed)), position: long ? "aboveBar" : "belowBar",
        color: net >= 0 ? "#3ddc84" : "#ff5a4f", shape: "circle", text: Number.isFinite(net) ? net.toFixed(0) : "" });
    }
  }
  markers.sort((a, b) => a.time - b.time);
  if (bars.length) createSeriesMarkers(candles.candles, markers);
  candles.markers = markers;
  // the equity curve in the lower pane (one point a second: the last of that second)
  const pts = new Map();
  for (const row of body.equity || []) {
    const [t, equity] = Array.isArray(row) ? row : [row.ts_ns ?? row.ts, row.equity];
    const ns = toNs(t);
    if (ns !== null && Number.isFinite(Number(equity))) pts.set(sec(ns), Number(equity));
  }
  const curve = Array.from(pts, ([time, value]) => ({ time, value })).sort((a, b) => a.time - b.time);
  candles.delta.setData(curve);
  candles.equity = curve;
  drawEquity(body.equity || []);
  candles.chart.timeScale().fitContent();
  $("levels").textContent = `${trades.length} trades; lower pane: equity`;
  // trades where the signals are listed, statistics where the account is
  const rows = trades.slice(-200).reverse().map((t) => {
    const tr = el("tr", null, Number(t.net ?? t.pnl) >= 0 ? "long" : "short");
    tr.dataset.number = String(t.number ?? "");
    tr.append(el("td", fmtTime(toNs(t.opened_t ?? t.opened))), el("td", String(t.direction ?? "")),
      el("td", String(t.max_quantity ?? t.qty ?? "")), el("td", fmtNum(Number(t.avg_entry), 2)),
      el("td", fmtNum(Number(t.avg_exit), 2)), el("td", fmtNum(Number(t.net ?? t.pnl), 2), "dir"));
    return tr;
  });
  $("sigrows").replaceChildren(...rows);
  $("sigcount").textContent = `${trades.length} trades`;
  const stats = body.stats && body.stats.stats ? body.stats.stats : body.stats || {};
  const lines = Object.entries(stats).filter(([, v]) => typeof v !== "object").slice(0, 16)
    .map(([k, v]) => el("p", `${k} ${typeof v === "number" ? +v.toFixed(4) : v}`));
  $("acct").replaceChildren(...lines);
  $("acctname").textContent = name;
  return body;
}
