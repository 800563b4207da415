// The footprint: the latest bars side by side, each price row "bid x ask" (volume sold into
// the bid x volume bought at the ask), shaded by volume, imbalances highlighted (ask side green,
// bid side red; a stripe on the edge when stacked, a dot when diagonal), each bar's POC boxed,
// its delta and volume underneath. The session volume profile stands on the right, on the
// same price rows (POC line, value area shaded, HVN/LVN marked on the price axis).

import { fmtPrice, fmtTime } from "./util.js";

const AXIS = 74;
const PROF = 78;
const FOOT = 30;
const HEAD = 14;
const FONT = "12px DejaVu Sans Mono, monospace";
const BOLD = "bold 12px DejaVu Sans Mono, monospace";
const SMALL = "10px DejaVu Sans Mono, monospace";

export class Footprint {
  constructor(canvas, info) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.info = info;
    this.tick = 0.25;
    this.bars = new Map(); // start_ts -> BAR, bounded
    this.profile = null;
    this.center = null;
    this.rowPx = 18;
    this.barW = 100;
    this.drawn = []; // the cells drawn last: [start_ts, price, bid, ask]
    this.view = null; // what the last paint covered: {top, bottom, bars: [start_ts...]}
    this.needResize = true;
    this.dirty = true;
  }

  reset(tick) {
    this.tick = tick;
    this.bars.clear();
    this.center = null;
    this.dirty = true;
  }

  setBars(bars) {
    for (const b of bars) this.bars.set(b.start_ts, b);
    if (this.bars.size > 600) {
      const keys = Array.from(this.bars.keys()).sort((a, b) => a - b);
      for (const k of keys.slice(0, keys.length - 500)) this.bars.delete(k);
    }
    this.dirty = true;
  }

  setProfile(p) { this.profile = p; this.dirty = true; }

  // the canvas's size in device pixels, read only when a ResizeObserver said it changed
  // (reading layout every frame would force the browser to lay the page out again)
  resize() {
    if (!this.needResize) return;
    this.needResize = false;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (w !== this.canvas.width || h !== this.canvas.height) {
      this.canvas.width = w;
      this.canvas.height = h;
      this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      this.dirty = true;
    }
  }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    const dpr = window.devicePixelRatio || 1;
    const W = this.canvas.width / dpr;
    const H = this.canvas.height / dpr;
    const ctx = this.ctx;
    const tick = this.tick;
    ctx.fillStyle = "#0e121a";
    ctx.fillRect(0, 0, W, H);
    this.drawn = [];
    const all = Array.from(this.bars.values()).sort((a, b) => a.start_ts - b.start_ts);
    if (!all.length) return;
    const area = W - AXIS - PROF;
    const nb = Math.max(1, Math.floor(area / this.barW));
    const bars = all.slice(-nb);
    const last = bars[bars.length - 1];
    const lo = Math.min(...bars.map((b) => b.low));
    const hi = Math.max(...bars.map((b) => b.high));
    // rows as tall as the bars' range allows (legible numbers), 16 to 26 px
    const span = Math.round((hi - lo) / tick) + 1;
    const px = Math.max(16, Math.min(26, Math.floor((H - FOOT - HEAD) / (span + 4))));
    if (px !== this.rowPx) { this.rowPx = px; this.center = null; }
    const rows = Math.floor((H - FOOT - HEAD) / this.rowPx);
    if (this.center === null || Math.abs(last.close - this.center) > rows * 0.35 * tick) {
      this.center = Math.round(last.close / tick) * tick;
    }
    // all the bars' ranges in view when they fit
    if ((hi - lo) / tick + 1 <= rows) this.center = Math.round((hi + lo) / 2 / tick) * tick;
    const top = this.center + Math.floor(rows / 2) * tick;
    const bottom = top - (rows - 1) * tick;
    const yOf = (p) => HEAD + Math.round((top - p) / tick) * this.rowPx;
    const x0 = area - bars.length * this.barW;
    this.view = { top, bottom, bars: bars.map((b) => b.start_ts) };
    ctx.font = FONT;
    ctx.textBaseline = "middle";
    bars.forEach((b, j) => {
      const x = x0 + j * this.barW;
      let maxV = 1;
      for (const [, bv, av] of b.cells) maxV = Math.max(maxV, bv + av);
      const imb = new Map();
      for (const m of b.imbalances || []) imb.set(`${m.side}:${Math.round(m.price / tick)}`, m);
      // candle strip on the left of the bar
      const up = b.close >= b.open;
      ctx.fillStyle = up ? "#2f9e6a" : "#d0493f";
      const yh = yOf(Math.min(b.high, top)), yl = yOf(Math.max(b.low, bottom));
      ctx.fillRect(x + 2, yh + 2, 1, yl - yh + this.rowPx - 4);
      const yo = yOf(Math.min(Math.max(b.open, b.close), top));
      const yc = yOf(Math.max(Math.min(b.open, b.close), bottom));
      ctx.fillRect(x, yo + 1, 5, yc - yo + this.rowPx - 2);
      for (const [price, bv, av] of b.cells) {
        if (price > top + tick / 2 || price < bottom - tick / 2) continue;
        const y = yOf(price);
        const k = Math.round(price / tick);
        const a = 0.12 + 0.5 * ((bv + av) / maxV);
        ctx.fillStyle = `rgba(74,120,180,${a.toFixed(3)})`;
        ctx.fillRect(x + 7, y + 1, this.barW - 10, this.rowPx - 2);
        const ib = imb.get(`bid:${k}`);
        const ia = imb.get(`ask:${k}`);
        const mid = x + 7 + (this.barW - 10) / 2;
        ctx.textAlign = "right";
        ctx.fillStyle = ib ? "#ff7b70" : "#c9d1dc";
        ctx.font = ib ? BOLD : FONT;
        ctx.fillText(String(bv), mid - 6, y + this.rowPx / 2);
        ctx.fillStyle = "#6f7c8d";
        ctx.textAlign = "center";
        ctx.font = FONT;
        ctx.fillText("x", mid, y + this.rowPx / 2);
        ctx.textAlign = "left";
        ctx.fillStyle = ia ? "#5ff0a0" : "#c9d1dc";
        ctx.font = ia ? BOLD : FONT;
        ctx.fillText(String(av), mid + 6, y + this.rowPx / 2);
        for (const [m, edge, colour] of [[ib, x + 7, "#ff5a4f"], [ia, x + this.barW - 5, "#3ddc84"]]) {
          if (!m) continue;
          if (m.stacked) { ctx.fillStyle = colour; ctx.fillRect(edge, y + 1, 2, this.rowPx - 2); }
          if (m.diagonal) { ctx.fillStyle = colour; ctx.fillRect(edge === x + 7 ? edge + 3 : edge - 4, y + this.rowPx / 2 - 1, 2, 2); }
        }
        if (Math.abs(price - b.poc) < tick / 2) {
          ctx.strokeStyle = "#f0b429";
          ctx.lineWidth = 1;
          ctx.strokeRect(x + 7.5, y + 0.5, this.barW - 11, this.rowPx - 1);
        }
        this.drawn.push([b.start_ts, price, bv, av]);
      }
      // header time and footer delta / volume
      ctx.textAlign = "center";
      ctx.fillStyle = b.closed ? "#6f7c8d" : "#f0b429";
      ctx.fillText(fmtTime(b.start_ts).slice(0, 5), x + this.barW / 2, HEAD / 2);
      ctx.fillStyle = b.delta >= 0 ? "#3ddc84" : "#ff5a4f";
      ctx.fillText(`\u0394 ${b.delta > 0 ? "+" : ""}${b.delta}`, x + this.barW / 2, H - FOOT + 8);
      ctx.fillStyle = "#c9d1dc";
      ctx.fillText(`vol ${b.volume}`, x + this.barW / 2, H - FOOT + 21);
    });
    this._profile(ctx, area, top, bottom, yOf, W, H);
    this._axis(ctx, area + PROF, top, rows, yOf, W, H);
    this.info.textContent = `${bars.length} bars, last ${fmtTime(last.start_ts)}`;
  }

  _profile(ctx, x, top, bottom, yOf, W, H) {
    const p = this.profile;
    ctx.fillStyle = "#111620";
    ctx.fillRect(x, HEAD, PROF, H - FOOT - HEAD);
    if (!p || !p.levels) return;
    const tick = this.tick;
    let maxV = 1;
    for (const [, v] of p.levels) maxV = Math.max(maxV, v);
    for (const [price, v] of p.levels) {
      if (price > top + tick / 2 || price < bottom - tick / 2) continue;
      const inVa = price <= p.vah + tick / 2 && price >= p.val - tick / 2;
      ctx.fillStyle = Math.abs(price - p.poc) < tick / 2 ? "#f0b429" : inVa ? "#4a78b4" : "#2c3e58";
      ctx.fillRect(x + 2, yOf(price) + 2, Math.max(1, ((PROF - 6) * v) / maxV), this.rowPx - 4);
    }
    if (p.poc <= top && p.poc >= bottom) {
      ctx.strokeStyle = "rgba(240,180,41,0.6)";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      const y = yOf(p.poc) + this.rowPx / 2 + 0.5;
      ctx.moveTo(0, y);
      ctx.lineTo(x, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  _axis(ctx, x, top, rows, yOf, W, H) {
    const tick = this.tick;
    const p = this.profile;
    ctx.fillStyle = "#121720";
    ctx.fillRect(x, 0, W - x, H);
    ctx.textAlign = "left";
    ctx.font = SMALL;
    for (let r = 0; r < rows; r++) {
      const price = top - r * tick;
      const y = yOf(price) + this.rowPx / 2;
      let colour = "#6f7c8d";
      let tag = "";
      if (p) {
        if (Math.abs(price - p.poc) < tick / 2) { colour = "#f0b429"; tag = "POC"; }
        else if (Math.abs(price - p.vah) < tick / 2) { colour = "#7fb0ff"; tag = "VAH"; }
        else if (Math.abs(price - p.val) < tick / 2) { colour = "#7fb0ff"; tag = "VAL"; }
        else if ((p.hvn || []).some((h) => Math.abs(h - price) < tick / 2)) { colour = "#c9d1dc"; tag = "HVN"; }
        else if ((p.lvn || []).some((h) => Math.abs(h - price) < tick / 2)) { colour = "#8a6fbf"; tag = "LVN"; }
      }
      if (!tag && r % 2) continue;
      ctx.fillStyle = colour;
      ctx.fillText(fmtPrice(price, tick), x + 2, y);
      if (tag) {
        ctx.font = "bold 9px sans-serif";
        ctx.fillText(tag, x + 48, y);
        ctx.font = SMALL;
      }
    }
  }
}
