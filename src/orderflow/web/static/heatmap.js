// The liquidity heatmap: time across, price up, colour = the largest resting size seen in each
// time bucket. Columns are drawn once, one pixel wide, into an offscreen ring (a canvas with
// one pixel row per tick around a base price) through a colour lookup table; each frame the
// visible part of the ring is copied (two drawImage slices where the ring wraps) and scaled
// onto the screen, then the lines (best bid/ask, last), the traded-volume dots and the signal
// markers are drawn over it. Memory is bounded: RING columns of data and of pixels.

import { fmtPrice, fmtTime, sigTs } from "./util.js";

const RING = 2048; // columns kept (250 ms buckets: about 8.5 minutes)
const HALF = 400; // ticks either side of the base price in the ring
const ROWS = 2 * HALF + 1;
const AXIS = 52; // px of the price axis on the right
const GAP = 120; // empty columns drawn at most for a stretch without data

// brightness rises monotonically from the first stop to the last
const STOPS = [
  [0.0, [14, 18, 26]], [0.12, [25, 40, 110]], [0.35, [20, 120, 190]],
  [0.6, [60, 200, 170]], [0.85, [240, 230, 90]], [1.0, [255, 255, 235]],
];

function buildLut() {
  const lut = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let k = 1;
    while (k < STOPS.length - 1 && STOPS[k][0] < t) k++;
    const [t0, c0] = STOPS[k - 1];
    const [t1, c1] = STOPS[k];
    const f = (t - t0) / (t1 - t0);
    const c = c0.map((v, j) => Math.round(v + (c1[j] - v) * f));
    lut[i] = (255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0]; // little-endian RGBA
  }
  return lut;
}

export class Heatmap {
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d", { alpha: false });
    this.strip = document.createElement("canvas");
    this.strip.width = RING;
    this.strip.height = ROWS;
    this.sctx = this.strip.getContext("2d", { willReadFrequently: false });
    this.sctx.fillStyle = "rgb(14,18,26)";
    this.sctx.fillRect(0, 0, RING, ROWS);
    // the ring's pixels, written in JS and copied to the strip in one putImageData per add
    this.img = this.sctx.createImageData(RING, ROWS);
    this.px = new Uint32Array(this.img.data.buffer);
    this.lut = buildLut();
    this.px.fill(this.lut[0]);
    this.cols = new Array(RING);
    this.raw = []; // the columns as received (for a rebuild), bounded like the ring
    this.ts = new Float64Array(RING);
    this.count = 0; // columns ever added
    this.tick = 0.25;
    this.base = null; // price at ring row HALF
    this.hi = 0; // contrast cut-off: sizes at or above are full brightness
    this.lo = 0; // sizes at or below are background
    this.center = null; // price at the middle of the view
    this.colW = 2;
    this.bucket = 250e6; // ns of data time per column (the smallest step seen)
    this.rowPx = 4;
    this.layers = { lines: true, dots: true, marks: true, clusters: true };
    this.clusters = [];
    this.drawnClusters = [];
    this.needResize = true;
    this.dirty = true;
  }

  reset(tick) {
    this.tick = tick;
    this.count = 0;
    this.raw = [];
    this.base = null;
    this.center = null;
    this.hi = 0;
    this.sctx.fillStyle = "rgb(14,18,26)";
    this.sctx.fillRect(0, 0, RING, ROWS);
    this.px.fill(this.lut[0]);
    this.dirty = true;
  }

  // contrast cut-offs from the sizes of the latest columns: background at or below the 5th
  // percentile of resting sizes, full brightness from the 97th
  _contrast() {
    const sizes = [];
    const n = Math.min(this.count, 240);
    for (let i = this.count - n; i < this.count; i++) {
      const c = this.cols[i % RING];
      for (const s of c.sizes) if (s > 0) sizes.push(s);
    }
    if (!sizes.length) return false;
    sizes.sort((a, b) => a - b);
    const hi = Math.max(2, sizes[Math.floor(sizes.length * 0.97)]);
    const lo = Math.min(hi - 1, sizes[Math.floor(sizes.length * 0.05)] - 1);
    const changed = !this.hi || Math.abs(hi - this.hi) / this.hi > 0.25;
    if (changed) { this.hi = hi; this.lo = Math.max(0, lo); }
    // zoom: the depth the feed shows (rows with size in the newest column) fills about 3/4
    // of the height, 3 to 12 px a tick
    const c = this.cols[(this.count - 1) % RING];
    let a = -1, b = -1;
    c.sizes.forEach((s, k) => { if (s > 0) { if (a < 0) a = k; b = k; } });
    if (a >= 0 && this.canvas.height) {
      const px = Math.max(3, Math.min(12, Math.floor((0.75 * this.canvas.height) / (b - a + 1))));
      if (px !== this.rowPx) { this.rowPx = px; this.center = null; }
    }
    return changed;
  }

  // column i's pixels into the ring's buffer (not yet onto the strip: _flush)
  _writeColumn(i) {
    const c = this.cols[i % RING];
    const px = this.px;
    const x = i % RING;
    const bg = this.lut[0];
    for (let r = 0, at = x; r < ROWS; r++, at += RING) px[at] = bg;
    const span = this.hi - this.lo;
    const top = this.base + HALF * this.tick;
    for (let k = 0; k < c.sizes.length; k++) {
      const s = c.sizes[k];
      if (s <= this.lo) continue;
      const row = Math.round((top - (c.p0 + k * c.step)) / this.tick);
      if (row < 0 || row >= ROWS) continue;
      const lvl = Math.min(255, Math.round(((s - this.lo) / span) * 255));
      px[row * RING + x] = this.lut[lvl];
    }
  }

  // columns [from, to) onto the strip: one putImageData per contiguous stretch of the ring
  _flush(from, to) {
    if (to - from >= RING) { this.sctx.putImageData(this.img, 0, 0); return; }
    let i = from;
    while (i < to) {
      const x = i % RING;
      const n = Math.min(to - i, RING - x);
      this.sctx.putImageData(this.img, 0, 0, x, 0, n, ROWS);
      i += n;
    }
  }

  _push(c) {
    this.cols[this.count % RING] = c;
    this.ts[this.count % RING] = c.ts;
    this.count += 1;
  }

  // after a re-base or a new contrast: the columns that can still be seen (the view only
  // ever shows the newest ones; a wider window repaints on resize)
  _repaintAll() {
    const visible = Math.ceil(Math.max(1, this.plotWidth()) / this.colW) + 8;
    const from = Math.max(0, this.count - RING, this.count - visible);
    for (let i = from; i < this.count; i++) this._writeColumn(i);
    this._flush(from, this.count);
  }

  // columns older than the first one held (a backfill): the ring is rebuilt with them first
  prepend(columns) {
    const first = this.raw.length ? this.raw[0].ts : Infinity;
    const older = columns.filter((c) => c.ts < first);
    if (!older.length) return;
    const keep = this.raw;
    this.reset(this.tick);
    this.add([...older, ...keep]);
  }

  add(columns) {
    if (!columns.length) return;
    const start = this.count;
    for (const c of columns) this.raw.push(c);
    if (this.raw.length > RING * 1.25) this.raw.splice(0, this.raw.length - RING);
    for (const c of columns) {
      if (this.base === null) this.base = Math.round((c.bid + c.ask) / 2 / this.tick) * this.tick;
      if (this.count) {
        // a bucket without events has no column: the book did not change, so the previous
        // column stands for it (at most GAP columns; a longer silence shows as a jump)
        const prev = this.ts[(this.count - 1) % RING];
        const d = c.ts - prev;
        if (d > 0 && d < this.bucket) this.bucket = d;
        const missing = Math.min(GAP, Math.round(d / this.bucket) - 1);
        const p = this.cols[(this.count - 1) % RING];
        for (let k = 1; k <= missing; k++) this._push({ ...p, ts: prev + k * this.bucket });
      }
      this._push(c);
    }
    const mid = (columns[columns.length - 1].bid + columns[columns.length - 1].ask) / 2;
    let all = false;
    if (Math.abs(mid - this.base) > (HALF * 3 / 4) * this.tick) {
      this.base = Math.round(mid / this.tick) * this.tick; // re-base the ring on the mid
      all = true;
    }
    const added = this.count - start;
    if (!this.hi || added >= 120 || this.count % 120 < added) all = this._contrast() || all;
    if (all) this._repaintAll();
    else {
      const from = Math.max(start, this.count - RING);
      for (let i = from; i < this.count; i++) this._writeColumn(i);
      this._flush(from, this.count);
    }
    this.dirty = true;
  }

  // the canvas's size in device pixels, read only when a ResizeObserver said it changed
  // (reading layout every frame would force the browser to lay the page out again)
  resize() {
    if (!this.needResize) return;
    this.needResize = false;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (w !== this.canvas.width || h !== this.canvas.height) {
      const wider = w > this.canvas.width;
      this.canvas.width = w;
      this.canvas.height = h;
      if (wider && this.count) this._repaintAll();
      this.dirty = true;
    }
  }

  // geometry (canvas pixels)
  plotWidth() { return this.canvas.width - AXIS; }
  visibleRows() { return Math.floor(this.canvas.height / this.rowPx); }
  topPrice() { return this.center + Math.floor(this.visibleRows() / 2) * this.tick; }
  yOfPrice(p) { return ((this.topPrice() - p) / this.tick) * this.rowPx; } // row's top edge
  priceAtY(y) { return this.topPrice() - Math.floor(y / this.rowPx) * this.tick; }
  xOfIndex(i) { return this.plotWidth() - (this.count - i) * this.colW; }

  // x of a data time: the column holding it (binary search over the ring's times)
  xOfTs(t) {
    let lo = Math.max(0, this.count - RING);
    let hi = this.count - 1;
    if (hi < lo || t < this.ts[lo % RING]) return -1;
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (this.ts[m % RING] <= t) lo = m; else hi = m - 1;
    }
    return this.xOfIndex(lo) + this.colW / 2;
  }

  _follow(last) {
    const rows = this.visibleRows();
    if (this.center === null || Math.abs(last - this.center) > rows * 0.3 * this.tick) {
      this.center = Math.round(last / this.tick) * this.tick;
    }
  }

  paint(prints, signals) {
    const { ctx, canvas } = this;
    const W = canvas.width;
    const H = canvas.height;
    ctx.fillStyle = "#0e121a";
    ctx.fillRect(0, 0, W, H);
    if (!this.count) return;
    const lastCol = this.cols[(this.count - 1) % RING];
    this._follow(lastCol.last || (lastCol.bid + lastCol.ask) / 2);
    const PW = this.plotWidth();
    const rows = this.visibleRows();
    const ncols = Math.min(this.count, RING, Math.ceil(PW / this.colW));
    const first = this.count - ncols;
    const sy = Math.round((this.base + HALF * this.tick - this.topPrice()) / this.tick);
    ctx.imageSmoothingEnabled = false;
    // the ring's visible columns: [first, count) in at most two slices
    let i = first;
    while (i < this.count) {
      const sx = i % RING;
      const n = Math.min(this.count - i, RING - sx);
      ctx.drawImage(this.strip, sx, sy, n, rows, this.xOfIndex(i), 0, n * this.colW, rows * this.rowPx);
      i += n;
    }
    this.drawnClusters = [];
    if (this.layers.clusters) this._clusters(PW, H);
    if (this.layers.lines) this._lines(first);
    if (this.layers.dots) this._dots(prints, this.ts[first % RING]);
    if (this.layers.marks) this._marks(signals, this.ts[first % RING]);
    this._axis(PW, W, H, rows, lastCol);
  }

  setClusters(items) { this.clusters = items || []; this.dirty = true; }

  // liquidity and volume clusters: translucent bands over their prices, from when each was
  // first seen (the left edge when before the columns shown), opacity by strength
  _clusters(PW, H) {
    const ctx = this.ctx;
    for (const c of this.clusters) {
      if (!Number.isFinite(c.low) || !Number.isFinite(c.high)) continue;
      const y0 = this.yOfPrice(c.high);
      const y1 = this.yOfPrice(c.low) + this.rowPx;
      if (y1 <= 0 || y0 >= H) continue;
      const seen = c.first_seen_ns ? this.xOfTs(c.first_seen_ns) : -1;
      const x0 = Math.max(0, seen);
      const strength = Math.min(1, Math.max(0, Number(c.strength) || 0));
      const alpha = 0.06 + 0.3 * strength;
      const rgb = c.kind === "volume" ? "255,196,64" : c.side === "ask" ? "255,106,92" : "47,208,126";
      ctx.fillStyle = `rgba(${rgb},${alpha.toFixed(3)})`;
      ctx.fillRect(x0, y0, PW - x0, y1 - y0);
      ctx.strokeStyle = `rgba(${rgb},${Math.min(1, alpha + 0.25).toFixed(3)})`;
      ctx.lineWidth = 1;
      ctx.strokeRect(x0 + 0.5, y0 + 0.5, PW - x0 - 1, y1 - y0 - 1);
      this.drawnClusters.push({ id: c.id, kind: c.kind, low: c.low, high: c.high, y0, y1, x0, alpha });
    }
  }

  _lines(first) {
    const ctx = this.ctx;
    const step = (key, colour, edge) => {
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1;
      ctx.beginPath();
      let started = false;
      for (let i = first; i < this.count; i++) {
        const c = this.cols[i % RING];
        const p = c[key];
        if (!p) continue;
        const y = Math.round(this.yOfPrice(p) + edge) + 0.5;
        const x = this.xOfIndex(i);
        if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
        ctx.lineTo(x + this.colW, y);
      }
      ctx.stroke();
    };
    step("bid", "#2fd07e", 0); // top edge of the best bid's row
    step("ask", "#ff6a5c", this.rowPx); // bottom edge of the best ask's row
    step("last", "rgba(255,255,255,0.55)", this.rowPx / 2);
  }

  _dots(prints, since) {
    const ctx = this.ctx;
    for (const [t, price, size, side] of prints) {
      if (t < since) continue;
      const x = this.xOfTs(t);
      if (x < 0) continue;
      const y = this.yOfPrice(price) + this.rowPx / 2;
      const r = Math.min(16, 1.5 + Math.sqrt(size) * 1.3);
      ctx.fillStyle = side > 0 ? "rgba(61,220,132,0.55)" : side < 0 ? "rgba(255,90,79,0.55)" : "rgba(180,180,180,0.5)";
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 2 * Math.PI);
      ctx.fill();
    }
  }

  _marks(signals, since) {
    const ctx = this.ctx;
    ctx.font = "bold 10px sans-serif";
    for (const s of signals) {
      const t = sigTs(s);
      if (!(t >= since) || !s.price) continue;
      const x = this.xOfTs(t);
      if (x < 0) continue;
      const long = s.direction > 0 || s.direction === "long";
      const y = this.yOfPrice(s.price) + (long ? this.rowPx + 8 : -8);
      ctx.fillStyle = long ? "#3ddc84" : "#ff5a4f";
      ctx.strokeStyle = "#000";
      ctx.beginPath();
      if (long) { ctx.moveTo(x, y - 6); ctx.lineTo(x - 5, y + 3); ctx.lineTo(x + 5, y + 3); }
      else { ctx.moveTo(x, y + 6); ctx.lineTo(x - 5, y - 3); ctx.lineTo(x + 5, y - 3); }
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
  }

  _axis(PW, W, H, rows, lastCol) {
    const ctx = this.ctx;
    ctx.fillStyle = "#121720";
    ctx.fillRect(PW, 0, W - PW, H);
    ctx.font = "10px DejaVu Sans Mono, monospace";
    ctx.textBaseline = "middle";
    const every = Math.max(1, Math.round(16 / this.rowPx));
    const top = this.topPrice();
    for (let r = 0; r < rows; r++) {
      const p = top - r * this.tick;
      if (Math.round(p / this.tick) % (every * 2) !== 0) continue;
      ctx.fillStyle = "#6f7c8d";
      ctx.fillText(fmtPrice(p, this.tick), PW + 4, r * this.rowPx + this.rowPx / 2);
    }
    for (const [p, colour] of [[lastCol.bid, "#2f9e6a"], [lastCol.ask, "#d0493f"]]) {
      if (!p) continue;
      const y = this.yOfPrice(p) + this.rowPx / 2;
      ctx.fillStyle = colour;
      ctx.fillRect(PW, y - 6, W - PW, 12);
      ctx.fillStyle = "#fff";
      ctx.fillText(fmtPrice(p, this.tick), PW + 4, y);
    }
    ctx.fillStyle = "#6f7c8d";
    ctx.textBaseline = "bottom";
    ctx.fillText(fmtTime(lastCol.ts), Math.max(0, PW - 64), H - 2);
  }
}
