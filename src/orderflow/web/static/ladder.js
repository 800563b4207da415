// The DOM ladder: one row per tick from the highest ask shown down to the lowest bid, with
// size bars, the volume traded at each price recently (sold = sell aggressors, bought = buy
// aggressors), walls in bold, pulled and stacked size marked for a few seconds. Rows are kept
// and only their changed text is written, once per animation frame at most.

import { el, fmtPrice } from "./util.js";

const MARK_MS = 3000; // how long a pull/stack mark stays
const TRADED_NS = 5 * 60 * 1e9; // "recent" traded volume: the last five minutes of data time

export class Ladder {
  constructor(host, info) {
    this.host = host;
    this.info = info;
    this.rows = [];
    this.tick = 0.25;
    this.book = null;
    this.last = null;
    this.traded = new Map(); // price in ticks -> [sold, bought, ts of the newest]
    this.marks = new Map(); // "side:price" -> {kind, size, until}
    this.nextExpiry = Infinity;
    this.fit = null; // rows that fit (a ResizeObserver clears it)
    this.dirty = true;
  }

  reset(tick) {
    this.tick = tick;
    this.traded.clear();
    this.marks.clear();
    this.book = null;
    this.dirty = true;
  }

  setBook(book) {
    this.book = book;
    const until = performance.now() + MARK_MS;
    for (const c of book.changes || []) {
      this.marks.set(`${c.side}:${Math.round(c.price / this.tick)}`, { kind: c.kind, size: c.size, until });
    }
    this.dirty = true;
  }

  addPrints(prints) {
    if (!prints.length) return;
    const now = prints[prints.length - 1][0];
    for (const [t, price, size, side] of prints) {
      const k = Math.round(price / this.tick);
      const r = this.traded.get(k) || [0, 0, 0];
      if (side < 0) r[0] += size; else if (side > 0) r[1] += size;
      r[2] = t;
      this.traded.set(k, r);
      this.last = price;
    }
    // forget prices not traded within the window (bounded memory, "recent" volume)
    for (const [p, r] of this.traded) if (now - r[2] > TRADED_NS) this.traded.delete(p);
    this.dirty = true;
  }

  _row(i) {
    while (this.rows.length <= i) {
      const r = el("div", null, "lrow");
      const cells = ["sold", "bid", "px", "ask", "bought"].map((c) => {
        const s = el("span", null, c);
        if (c === "bid" || c === "ask") {
          s.append(el("i", null, "bar"), el("b"), el("em"));
        }
        r.append(s);
        return s;
      });
      r._cells = cells;
      this.rows.push(r);
    }
    return this.rows[i];
  }

  paint() {
    // a pull/stack mark runs out: paint again then, even when nothing else changed
    if (!this.dirty && this.marks.size && performance.now() > this.nextExpiry) this.dirty = true;
    if (!this.dirty || !this.book) return;
    this.dirty = false;
    const { bids, asks, walls } = this.book;
    const tick = this.tick;
    if (this.fit === null) this.fit = Math.max(4, Math.floor(this.host.clientHeight / 16));
    const fit = this.fit;
    const key = (p) => Math.round(p / tick);
    const bidAt = new Map(bids.map(([p, s]) => [key(p), s]));
    const askAt = new Map(asks.map(([p, s]) => [key(p), s]));
    const wallAt = new Set((walls || []).map((w) => `${w.side}:${key(w.price)}`));
    const hiK = asks.length ? key(asks[asks.length - 1][0]) : bids.length ? key(bids[0][0]) : 0;
    const loK = bids.length ? key(bids[bids.length - 1][0]) : asks.length ? key(asks[0][0]) : 0;
    let top = hiK;
    let n = hiK - loK + 1;
    if (n > fit) { // centre the rows that fit on the spread
      const mid = Math.round(((bids.length ? key(bids[0][0]) : loK) + (asks.length ? key(asks[0][0]) : hiK)) / 2);
      top = mid + Math.floor(fit / 2);
      n = fit;
    }
    let maxSize = 1;
    for (const [, s] of bids) maxSize = Math.max(maxSize, s);
    for (const [, s] of asks) maxSize = Math.max(maxSize, s);
    const bestBid = bids.length ? key(bids[0][0]) : null;
    const bestAsk = asks.length ? key(asks[0][0]) : null;
    const lastK = this.last === null ? null : key(this.last);
    const now = performance.now();
    this.nextExpiry = Infinity;
    for (const [k, m] of this.marks) {
      if (m.until < now) this.marks.delete(k);
      else this.nextExpiry = Math.min(this.nextExpiry, m.until);
    }
    const frag = [];
    for (let i = 0; i < n; i++) {
      const k = top - i;
      const price = k * tick;
      const row = this._row(i);
      const [sold, bid, px, ask, bought] = row._cells;
      const tr = this.traded.get(k);
      setText(sold, tr && tr[0] ? String(tr[0]) : "");
      setText(bought, tr && tr[1] ? String(tr[1]) : "");
      setText(px, fmtPrice(price, tick));
      row.dataset.price = fmtPrice(price, tick);
      side(bid, bidAt.get(k), maxSize, wallAt.has(`bid:${k}`), this.marks.get(`bid:${k}`));
      side(ask, askAt.get(k), maxSize, wallAt.has(`ask:${k}`), this.marks.get(`ask:${k}`));
      const cls = "lrow" + (k === bestBid || k === bestAsk ? " best" : "") + (k === lastK ? " last" : "");
      if (row.className !== cls) row.className = cls;
      frag.push(row);
    }
    if (this.host.childElementCount !== n || this.host.firstChild !== frag[0]) {
      this.host.replaceChildren(...frag);
    }
    this.info.textContent = `${bids.length}x${asks.length} levels${this.book.stale ? "  STALE" : ""}`;
    this.info.style.color = this.book.stale ? "#ff5a4f" : "";
  }

  // what the ladder shows, as the book API gives it (tests and the benchmark read it)
  text() {
    const out = { bids: [], asks: [] };
    for (const row of this.host.children) {
      const [, bid, , ask] = row._cells;
      const p = Number(row.dataset.price);
      const b = bid.querySelector("b").textContent;
      const a = ask.querySelector("b").textContent;
      if (b) out.bids.push([p, Number(b)]);
      if (a) out.asks.unshift([p, Number(a)]);
    }
    return out;
  }
}

function setText(e, t) {
  if (e.textContent !== t) e.textContent = t;
}

function side(cell, size, maxSize, wall, mark) {
  const [bar, b, em] = cell.children;
  setText(b, size ? String(size) : "");
  const w = size ? `${Math.round((100 * size) / maxSize)}%` : "0";
  if (bar.style.width !== w) bar.style.width = w;
  const cls = cell.classList.contains("bid") ? "bid" : "ask";
  const want = wall ? `${cls} wall` : cls;
  if (cell.className !== want) cell.className = want;
  const mt = mark ? (mark.kind === "pull" ? `-${mark.size}` : `+${mark.size}`) : "";
  setText(em, mt);
  em.className = mark ? mark.kind : "";
}
