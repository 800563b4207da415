// Candles with the session VWAP and its 1/2/3 sigma bands, the session profile's POC and value
// area as price lines on the axis, and the cumulative delta in a pane below: TradingView's
// lightweight-charts (its attribution logo stays on, as its licence notice asks).

import {
  createChart, createSeriesMarkers, CandlestickSeries, LineSeries, BaselineSeries, LineStyle,
} from "./vendor/lightweight-charts/lightweight-charts.standalone.production.mjs";
import { decimals, fmtPrice } from "./util.js";

const sec = (ns) => Math.floor(Number(ns) / 1e9);
const BAND_COLOURS = ["rgba(74,163,255,0.75)", "rgba(74,163,255,0.5)", "rgba(74,163,255,0.3)"];

export class Candles {
  constructor(host, label) {
    this.label = label;
    this.tick = 0.25;
    this.chart = createChart(host, {
      autoSize: true,
      layout: {
        background: { color: "#121720" }, textColor: "#9aa6b5", fontSize: 10,
        attributionLogo: true,
        panes: { separatorColor: "#242c38" },
      },
      grid: { vertLines: { color: "#1a212c" }, horzLines: { color: "#1a212c" } },
      timeScale: { timeVisible: true, secondsVisible: false, borderColor: "#242c38", rightOffset: 4 },
      rightPriceScale: { borderColor: "#242c38" },
      crosshair: { mode: 0 },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, {
      upColor: "#2f9e6a", downColor: "#d0493f", wickUpColor: "#2f9e6a", wickDownColor: "#d0493f",
      borderVisible: false,
    });
    const line = { priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false };
    this.vwap = this.chart.addSeries(LineSeries, { ...line, color: "#4aa3ff", lineWidth: 2, lastValueVisible: true, title: "VWAP" });
    this.bands = [1, 2, 3].flatMap((k) => ["upper", "lower"].map((side) => ({
      k, side,
      series: this.chart.addSeries(LineSeries, { ...line, color: BAND_COLOURS[k - 1], lineWidth: 1, lineStyle: LineStyle.Dashed }),
    })));
    this.delta = this.chart.addSeries(BaselineSeries, {
      baseValue: { type: "price", price: 0 }, lineWidth: 1, priceLineVisible: false,
      topLineColor: "#3ddc84", bottomLineColor: "#ff5a4f",
      topFillColor1: "rgba(61,220,132,0.25)", topFillColor2: "rgba(61,220,132,0.05)",
      bottomFillColor1: "rgba(255,90,79,0.05)", bottomFillColor2: "rgba(255,90,79,0.25)",
    }, 1);
    const panes = this.chart.panes();
    if (panes[1]) panes[1].setHeight(90);
    this.lines = {};
    this.lastTime = null;
    this.bars = new Map(); // time (s) -> candle
    this.profile = null;
    this.vwapNow = null;
    this.cum = null;
    this.dirty = false;
    this.pendingBars = [];
  }

  reset(tick) {
    this.tick = tick;
    // the price axis on the instrument's ticks
    const priceFormat = { type: "price", precision: decimals(tick), minMove: tick };
    this.candles.applyOptions({ priceFormat });
    this.vwap.applyOptions({ priceFormat });
    for (const b of this.bands) b.series.applyOptions({ priceFormat });
    this.bars.clear();
    this.lastTime = null;
    this.candles.setData([]);
    this.vwap.setData([]);
    for (const b of this.bands) b.series.setData([]);
    this.delta.setData([]);
  }

  // bars of the snapshot: candles, and the cumulative delta at each bar's end worked back from
  // the session's current cumulative delta
  load(bars, delta) {
    const sorted = [...bars].sort((a, b) => a.start_ts - b.start_ts);
    for (const b of sorted) this.bars.set(sec(b.start_ts), toCandle(b));
    this.candles.setData(Array.from(this.bars.values()));
    this.lastTime = sorted.length ? sec(sorted[sorted.length - 1].start_ts) : null;
    // the session VWAP and its bands at each bar, when the bars carry them
    const withVwap = sorted.filter((b) => b.vwap && Number.isFinite(b.vwap.vwap));
    if (withVwap.length) {
      this.vwap.setData(withVwap.map((b) => ({ time: sec(b.start_ts), value: b.vwap.vwap })));
      for (const band of this.bands) {
        band.series.setData(withVwap.flatMap((b) => {
          const x = (b.vwap.bands || []).find((y) => Number(y.k) === band.k);
          return x ? [{ time: sec(b.start_ts), value: x[band.side] }] : [];
        }));
      }
    }
    if (delta && sorted.length) {
      let cum = delta.cum;
      const pts = [];
      for (let i = sorted.length - 1; i >= 0; i--) {
        pts.push({ time: sec(sorted[i].start_ts), value: cum });
        cum -= sorted[i].delta;
      }
      this.delta.setData(pts.reverse());
    }
    this.chart.timeScale().scrollToRealTime();
  }

  updateBars(bars) {
    for (const b of bars) this.pendingBars.push(b);
    this.dirty = true;
  }

  setDelta(d) { this.cum = d; this.dirty = true; }

  // the account's fills as markers on their bars, its working orders as price lines
  setAccount(a) {
    this.account = a;
    this.accountDirty = true;
    this.dirty = true;
  }

  _account() {
    this.accountDirty = false;
    const a = this.account;
    const starts = Array.from(this.bars.keys()).sort((x, y) => x - y);
    const snap = (s) => {
      let lo = 0, hi = starts.length - 1;
      if (!starts.length || s < starts[0]) return null;
      while (lo < hi) { const m = (lo + hi + 1) >> 1; if (starts[m] <= s) lo = m; else hi = m - 1; }
      return starts[lo];
    };
    const markers = [];
    for (const f of (a && a.fills) || []) {
      const t = snap(sec(f.ts));
      if (t === null) continue;
      const buy = String(f.side).toLowerCase().startsWith("b");
      // an exit's marker names why it ended (stop, target, absorption_against, ...)
      markers.push({ time: t, position: buy ? "belowBar" : "aboveBar", color: buy ? "#3ddc84" : "#ff5a4f",
        shape: buy ? "arrowUp" : "arrowDown", text: `${buy ? "B" : "S"}${f.qty}${f.reason ? " " + f.reason : ""}` });
    }
    markers.sort((x, y) => x.time - y.time);
    this.fillMarks = markers;
    if (!this.fillMarkers) this.fillMarkers = createSeriesMarkers(this.candles, markers);
    else this.fillMarkers.setMarkers(markers);
    for (const line of this.orderLines || []) this.candles.removePriceLine(line);
    this.orderLines = ((a && a.working) || []).filter((o) => Number.isFinite(o.price)).map((o) =>
      this.candles.createPriceLine({
        price: o.price, color: String(o.side).toLowerCase().startsWith("b") ? "#3ddc84" : "#ff5a4f",
        lineStyle: LineStyle.Dashed, lineWidth: 1, axisLabelVisible: true, title: `${o.side} ${o.qty} ${o.kind}`,
      }));
  }
  setVwap(v) { this.vwapNow = v; this.dirty = true; }
  setProfile(p) { this.profile = p; this.dirty = true; }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    if (this.pendingBars.length) {
      const bars = this.pendingBars.sort((a, b) => a.start_ts - b.start_ts);
      this.pendingBars = [];
      let rewrite = false;
      for (const b of bars) {
        const t = sec(b.start_ts);
        const known = this.bars.has(t);
        this.bars.set(t, toCandle(b));
        if (this.lastTime !== null && t < this.lastTime) {
          // a bar that closed after the next one began: update it in place (rare: rewrite
          // everything only for a bar the chart never had)
          if (known) this.candles.update(toCandle(b), true);
          else rewrite = true;
        } else { this.candles.update(toCandle(b)); this.lastTime = t; }
      }
      if (rewrite) {
        const all = Array.from(this.bars.values()).sort((a, b) => a.time - b.time);
        this.candles.setData(all);
      }
      if (this.bars.size > 1500) {
        const keys = Array.from(this.bars.keys()).sort((a, b) => a - b);
        for (const k of keys.slice(0, keys.length - 1000)) this.bars.delete(k);
      }
    }
    const t = this.lastTime;
    if (t !== null && this.vwapNow) {
      this.vwap.update({ time: t, value: this.vwapNow.vwap });
      for (const b of this.bands) {
        const band = (this.vwapNow.bands || []).find((x) => Number(x.k) === b.k);
        if (band) b.series.update({ time: t, value: band[b.side] });
      }
    }
    if (t !== null && this.cum) this.delta.update({ time: t, value: this.cum.cum });
    if (this.accountDirty) this._account();
    this._levels();
  }

  _levels() {
    const p = this.profile;
    const tick = this.tick;
    const want = p ? { POC: p.poc, VAH: p.vah, VAL: p.val } : {};
    for (const [name, price] of Object.entries(want)) {
      const opts = {
        price, title: name, lineWidth: 1, axisLabelVisible: true,
        color: name === "POC" ? "#f0b429" : "#7fb0ff", lineStyle: LineStyle.Dotted,
      };
      if (!this.lines[name]) this.lines[name] = this.candles.createPriceLine(opts);
      else if (this.lines[name].options().price !== price) this.lines[name].applyOptions({ price });
    }
    const parts = [];
    if (p) parts.push(`POC ${fmtPrice(p.poc, tick)}`, `VAH ${fmtPrice(p.vah, tick)}`, `VAL ${fmtPrice(p.val, tick)}`);
    if (this.vwapNow) parts.push(`VWAP ${this.vwapNow.vwap.toFixed(2)}`);
    if (this.cum) parts.push(`\u03a3\u0394 ${this.cum.cum}`);
    const text = parts.join("  ");
    if (this.label.textContent !== text) this.label.textContent = text;
  }
}

function toCandle(b) {
  return { time: sec(b.start_ts), open: b.open, high: b.high, low: b.low, close: b.close };
}
