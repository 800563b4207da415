// The smaller panels: book-metrics sparklines (uPlot), time and sales, signals and alerts,
// account and risk, the health flags and the replay bar. Each keeps bounded state and writes
// the DOM only from paint(), called in the animation frame.

import uPlot from "./vendor/uplot/uPlot.esm.js";
import { $, el, fmtNum, fmtPrice, fmtTime, Ring, sigKind, sigTs } from "./util.js";

const SPARK_POINTS = 600;

export class Sparks {
  constructor(host) {
    this.defs = [
      { key: "imbalance", label: "imbalance", digits: 3, colour: "#f0b429" },
      { key: "microprice", label: "microprice - mid", digits: 3, colour: "#4aa3ff" },
      { key: "ofi", label: "OFI", digits: 0, colour: "#3ddc84" },
      { key: "momentum", label: "momentum", digits: 3, colour: "#c792ea" },
    ];
    this.x = [];
    this.ys = this.defs.map(() => []);
    this.plots = this.defs.map((d) => {
      const box = el("div", null, "spark");
      const val = el("span", "-", "val");
      const wait = el("span", "no history yet", "wait");
      box.append(el("span", d.label, "lbl"), val, wait);
      d.wait = wait;
      host.append(box);
      d.val = val;
      d.box = box;
      return null;
    });
    this.dirty = false;
    this.lastPaint = 0;
  }

  _make(i) {
    const d = this.defs[i];
    const w = Math.max(40, d.box.clientWidth);
    const h = Math.max(20, d.box.clientHeight - 14);
    return new uPlot({
      width: w, height: h, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false } },
      axes: [{ show: false }, { show: false }],
      series: [{}, { stroke: d.colour, width: 1, fill: d.colour + "22" }],
    }, [[], []], d.box);
  }

  // the snapshot's history: [ts, imbalance, microprice, mid, ofi, momentum] rows
  load(rows) {
    this.x = [];
    this.ys = this.defs.map(() => []);
    for (const [, imbalance, microprice, mid, ofi, momentum] of rows) {
      this.push({ imbalance, microprice, mid, ofi, momentum });
    }
  }

  push(m) {
    if (!m) return;
    const value = {
      imbalance: m.imbalance,
      microprice: m.microprice !== undefined && m.mid !== undefined ? m.microprice - m.mid : null,
      ofi: m.ofi !== undefined ? m.ofi : m.ofi_window,
      momentum: m.momentum,
    };
    this.x.push(this.x.length ? this.x[this.x.length - 1] + 1 : 0);
    this.defs.forEach((d, i) => this.ys[i].push(Number.isFinite(value[d.key]) ? value[d.key] : null));
    if (this.x.length > SPARK_POINTS * 1.25) {
      const cut = this.x.length - SPARK_POINTS;
      this.x.splice(0, cut);
      for (const y of this.ys) y.splice(0, cut);
    }
    this.latest = value;
    this.dirty = true;
  }

  paint(now) {
    if (!this.dirty || now - this.lastPaint < 200) return; // sparklines at 5 Hz are enough
    this.dirty = false;
    this.lastPaint = now;
    this.defs.forEach((d, i) => {
      if (!this.plots[i]) this.plots[i] = this._make(i);
      this.plots[i].setData([this.x, this.ys[i]]);
      const v = this.latest[d.key];
      d.val.textContent = fmtNum(v, d.digits);
      d.wait.hidden = this.x.length >= 2;
      d.val.style.color = v > 0 ? "#3ddc84" : v < 0 ? "#ff5a4f" : "#c9d1dc";
    });
  }
}

export class Tape {
  constructor(body, minInput) {
    this.body = body;
    this.minInput = minInput;
    this.prints = new Ring(2000);
    this.tick = 0.25;
    this.rows = 60; // rows drawn at most
    this.dirty = true;
    minInput.addEventListener("input", () => { this.dirty = true; });
  }

  add(prints) { if (prints.length) { this.prints.push(...prints); this.dirty = true; } }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    const min = Math.max(1, Number(this.minInput.value) || 1);
    const out = [];
    const items = this.prints.items;
    for (let i = items.length - 1; i >= 0 && out.length < this.rows; i--) {
      const [t, price, size, side] = items[i];
      if (size < min) continue;
      const tr = el("tr", null, (side > 0 ? "buy" : side < 0 ? "sell" : "none") + (size >= 20 ? " blk" : ""));
      tr.append(el("td", fmtTime(t, true)), el("td", fmtPrice(price, this.tick)), el("td", String(size)));
      out.push(tr);
    }
    this.body.replaceChildren(...out);
  }
}

export class Signals {
  constructor(body, count) {
    this.body = body;
    this.count = count;
    this.items = new Ring(500);
    this.alerts = [];
    this.tick = 0.25;
    this.rows = 200;
    this.dirty = true;
  }

  add(signals) { if (signals.length) { this.items.push(...signals); this.dirty = true; } }
  setAlerts(alerts) { this.alerts = alerts || []; this.dirty = true; }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    const out = [];
    for (const a of this.alerts.slice(-3).reverse()) {
      const tr = el("tr", null, "alert");
      tr.append(el("td", fmtTime(a.ts)), el("td", a.level), el("td", a.message, "ev"));
      tr.lastChild.colSpan = 4;
      out.push(tr);
    }
    const items = this.items.items;
    for (let i = items.length - 1; i >= 0 && out.length < this.rows; i--) {
      const s = items[i];
      const long = s.direction > 0 || s.direction === "long";
      const tr = el("tr", null, long ? "long" : "short");
      tr.dataset.id = s.id;
      const score = s.score !== undefined ? s.score : s.strength;
      tr.append(
        el("td", fmtTime(sigTs(s))), el("td", sigKind(s), "kind"), el("td", long ? "long" : "short", "dir"),
        el("td", fmtNum(Number(score), 2), "score"), el("td", fmtPrice(s.price, this.tick), "price"),
        el("td", evidence(s.evidence), "ev"),
      );
      tr.title = JSON.stringify(s.evidence || {});
      out.push(tr);
    }
    this.body.replaceChildren(...out);
    this.count.textContent = `${items.length} signals`;
  }
}

function evidence(ev) {
  if (!ev || typeof ev !== "object") return "";
  return Object.entries(ev).slice(0, 4).map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(2) : v}`).join(" ");
}

export class Account {
  constructor(host, name, killButton) {
    this.host = host;
    this.name = name;
    this.acct = null;
    this.tick = 0.25;
    this.dirty = false;
    killButton.addEventListener("click", () => this.kill());
    this.killButton = killButton;
  }

  set(a) { this.acct = a; this.dirty = true; }

  async kill() {
    const token = window.prompt("Kill switch: new entries refused, working orders cancelled.\nToken:", sessionStorage.getItem("orderflow.token") || "");
    if (token === null) return;
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const r = await fetch("/api/kill", { method: "POST", headers, body: JSON.stringify({ reason: "dashboard" }) });
    if (r.ok) { if (token) sessionStorage.setItem("orderflow.token", token); this.killButton.classList.add("engaged"); }
    else window.alert(`kill refused: HTTP ${r.status}`);
  }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    const a = this.acct;
    if (!a) { this.host.replaceChildren(el("p", "no trading node", "muted")); return; }
    this.name.textContent = `${a.account || ""}${a.simulated ? " (simulated)" : ""}`;
    const out = [];
    const pos = a.position;
    const qty = pos ? pos.qty : 0;
    out.push(el("p", `${qty > 0 ? "LONG " : qty < 0 ? "SHORT " : "FLAT"}${qty ? Math.abs(qty) + " @ " + fmtPrice(pos.avg_price, this.tick) : ""}`, "pos"));
    const pnl = el("p");
    pnl.append(el("span", "realised "), el("b", fmtNum(a.realised, 2), a.realised >= 0 ? "up" : "down"),
      el("span", "  open "), el("b", fmtNum(a.open_pnl, 2), a.open_pnl >= 0 ? "up" : "down"));
    out.push(pnl);
    const risk = a.risk || {};
    out.push(el("p", `risk ${risk.state || "-"}${(risk.reasons || []).length ? ": " + risk.reasons.join(", ") : ""}`,
      risk.state === "ok" ? "risk-ok" : "risk-bad"));
    this.killButton.classList.toggle("engaged", !!risk.kill);
    // the round trips, newest first, with why each ended
    const trades = a.trades || [];
    out.push(el("h3", `trades (${trades.length})`));
    const body = document.createElement("tbody");
    for (const t of trades.slice().reverse()) {
      const tr = document.createElement("tr");
      tr.dataset.number = t.number;
      const pnlClass = t.pnl >= 0 ? "up" : "down";
      for (const [text, cls] of [
        [fmtTime(t.exit_ts), "t"], [t.side, "side"], [String(t.qty), "qty"],
        [fmtPrice(t.entry, this.tick), "entry"], [fmtPrice(t.exit, this.tick), "exit"],
        [fmtNum(t.pnl, 2), "pnl " + pnlClass], [t.reason || "-", "reason"],
      ]) tr.append(el("td", text, cls));
      tr.title = `#${t.number} ${t.side} ${t.qty}: ${fmtTime(t.entry_ts)} -> ${fmtTime(t.exit_ts)}, ${fmtNum(t.pnl_ticks, 1)} ticks, exit: ${t.reason || "unknown"}`;
      body.append(tr);
    }
    const table = document.createElement("table");
    table.className = "trades";
    table.append(body);
    const wrap = el("div", null, "trades-host");
    wrap.append(table);
    out.push(wrap);
    out.push(el("h3", `working (${(a.working || []).length})`));
    for (const o of (a.working || []).slice(0, 2)) {
      out.push(el("p", `${o.side} ${o.qty} ${o.kind} ${o.price ? fmtPrice(o.price, this.tick) : ""} ${o.state}`));
    }
    out.push(el("h3", "fills"));
    for (const f of (a.fills || []).slice(-2).reverse()) {
      out.push(el("p", `${fmtTime(f.ts)} ${f.side} ${f.qty} @ ${fmtPrice(f.price, this.tick)}${f.reason ? " " + f.reason : ""}`));
    }
    this.host.replaceChildren(...out);
  }
}

export class Health {
  constructor() { this.h = null; this.status = "connecting"; this.dirty = true; this.replaying = false; }
  set(h) { this.h = h; this.dirty = true; }
  setStatus(s) { if (s !== this.status) { this.status = s; this.dirty = true; } }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    const conn = $("conn");
    conn.textContent = this.status === "open" ? "connected" : this.status;
    conn.className = "flag " + (this.status === "open" ? "ok" : "bad");
    const h = this.h;
    if (!h) return;
    // a replay: how far the data clock is behind the pace asked for; live: receipt against
    // event time, which for recorded data fed as fast as it goes is the data's age
    let name = "feed lag";
    let tip = "receipt time minus event time of the latest data";
    if (h.lag_kind ? h.lag_kind === "replay" : this.replaying) {
      name = "behind pace";
      tip = "replay: how far the data clock is behind where the chosen speed would have it";
    } else if (h.lag_ms > 600e3) {
      name = "data age";
      tip = "the data's event times are this far behind the clock: recorded data, not a live feed";
    }
    $("lagname").textContent = name;
    $("lagbox").title = tip;
    $("lag").textContent = fmtLag(h.lag_ms);
    const stale = $("stale");
    stale.textContent = h.stale ? `stale${h.stale_reason ? ": " + h.stale_reason : ""}` : "live";
    stale.className = "flag " + (h.stale ? "bad" : "ok");
    $("gaps").textContent = String(h.gaps || 0);
    $("eps").textContent = fmtNum(h.events_per_s, 0);
    const last = (h.alerts || [])[h.alerts.length - 1];
    $("alerts").textContent = last ? `\u26a0 ${last.message}` : "";
  }
}

function fmtLag(ms) {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 10000) return `${ms.toFixed(0)} ms`;
  if (ms < 3600e3) return `${(ms / 1000).toFixed(0)} s`;
  if (ms < 86400e3) return `${(ms / 3600e3).toFixed(1)} h`;
  return `${(ms / 86400e3).toFixed(0)} d`;
}

export const SPEEDS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600];

export class Replay {
  constructor() {
    this.r = null;
    this.dirty = false;
    this.seeking = false;
    const speed = $("speed");
    for (const s of SPEEDS) speed.append(new Option(`${s}x`, String(s)));
    $("play").addEventListener("click", () => this.send({ action: this.r && this.r.playing ? "pause" : "play" }));
    speed.addEventListener("change", () => {
      if (speed.value !== "max") this.send({ action: "speed", speed: Number(speed.value) });
    });
    const seek = $("seek");
    seek.addEventListener("input", () => { this.seeking = true; });
    seek.addEventListener("change", () => {
      this.seeking = false;
      if (!this.r) return;
      const ts = this.r.start_ts + Math.round(((this.r.end_ts - this.r.start_ts) * Number(seek.value)) / 1000);
      this.send({ action: "seek", ts });
    });
  }

  async send(body) {
    const headers = { "content-type": "application/json" };
    const token = sessionStorage.getItem("orderflow.token");
    if (token) headers.authorization = `Bearer ${token}`;
    let r = await fetch("/api/replay", { method: "POST", headers, body: JSON.stringify(body) });
    if (r.status === 401) {
      const t = window.prompt("Replay control needs the token:");
      if (!t) return;
      sessionStorage.setItem("orderflow.token", t);
      headers.authorization = `Bearer ${t}`;
      r = await fetch("/api/replay", { method: "POST", headers, body: JSON.stringify(body) });
    }
    if (r.ok) this.set(await r.json());
    else {
      let msg = `HTTP ${r.status}`;
      try { msg = (await r.json()).error.message; } catch (e) { /* keep the status */ }
      $("alerts").textContent = `\u26a0 replay: ${msg}`;
    }
  }

  set(r) { this.r = r; this.dirty = true; }

  paint() {
    if (!this.dirty) return;
    this.dirty = false;
    const r = this.r;
    $("replay").hidden = !r;
    if (!r) return;
    $("play").textContent = r.playing ? "\u2016 pause" : "\u25b6 play";
    $("play").dataset.playing = String(r.playing);
    const speed = $("speed");
    // null: as fast as it goes (orderflow run --fast)
    const want = r.speed === null ? "max" : String(r.speed);
    if (speed.value !== want) {
      if (!Array.from(speed.options).some((o) => o.value === want)) {
        speed.append(new Option(r.speed === null ? "max" : `${r.speed}x`, want));
      }
      speed.value = want;
    }
    if (!this.seeking && r.end_ts > r.start_ts) {
      $("seek").value = String(Math.round((1000 * (r.position_ts - r.start_ts)) / (r.end_ts - r.start_ts)));
    }
    $("rpos").textContent = `${fmtTime(r.position_ts)} ${r.source || ""}`;
  }
}
