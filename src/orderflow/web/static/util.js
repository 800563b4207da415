// Small shared helpers: number and time formats, element lookups.

export const $ = (id) => document.getElementById(id);

export function decimals(tick) {
  const s = String(tick);
  const i = s.indexOf(".");
  return i < 0 ? 0 : s.length - i - 1;
}

export function fmtPrice(p, tick) {
  return p === null || p === undefined || !Number.isFinite(p) ? "-" : p.toFixed(decimals(tick));
}

export function fmtNum(v, digits = 2) {
  return v === null || v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits);
}

// data-clock nanoseconds as HH:MM:SS (UTC)
export function fmtTime(ns, millis = false) {
  if (!ns) return "-";
  const d = new Date(Number(ns) / 1e6);
  const s = d.toISOString();
  return millis ? s.slice(11, 23) : s.slice(11, 19);
}

// an element with text, for building rows without innerHTML
export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

// a bounded list: keeps the last `cap` items pushed
export class Ring {
  constructor(cap) { this.cap = cap; this.items = []; }
  push(...xs) {
    for (const x of xs) this.items.push(x);
    if (this.items.length > this.cap * 1.25) this.items.splice(0, this.items.length - this.cap);
  }
  clear() { this.items.length = 0; }
  last(n) { return this.items.slice(Math.max(0, this.items.length - n)); }
}

// a signal's data time and kind, whichever names the server gives them
export const sigTs = (s) => (s.ts !== undefined ? s.ts : s.ts_event);
export const sigKind = (s) => (s.kind !== undefined ? s.kind : s.detector);
