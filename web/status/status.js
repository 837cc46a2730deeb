/*
 * status.js: fills the status page. Reads the instance list from
 * pool/instances.json (the nginx site lists the pool; sandboxd answers
 * with itself alone), then every POLL_MS reads each instance's
 * status.json (state, current task, last error, spool) and history.json
 * (recent tasks, the last hour's counts, the notify backlog) and draws:
 * one table row per instance, the durations of the recent tasks (one mark
 * per task: a bar for the total, a dot for the run, coloured by status),
 * the last hour's counts by status and reason, and the backlog over the
 * last hour (summed over the instances).
 *
 * Never: writes anything an instance sent as HTML (textContent and
 * attributes only), or polls faster than POLL_MS (an instance that does
 * not answer in TIMEOUT_MS is shown as down).
 */
"use strict";

const POLL_MS = 2000;
const TIMEOUT_MS = 1500;
const PLOT_MAX = 240;	/* task marks drawn, newest kept */
const SVG = "http://www.w3.org/2000/svg";

const instances = [];	/* {name, url, state, status, history, error} */
let single = false;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {}))
    e.setAttribute(k, v);
  if (text !== undefined)
    e.textContent = text;
  return e;
}

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {}))
    e.setAttribute(k, String(v));
  if (text !== undefined)
    e.textContent = text;
  return e;
}

async function fetchTimed(url) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const r = await fetch(url, { cache: "no-store", signal: ctl.signal });
    if (!r.ok)
      throw new Error("HTTP " + r.status);
    return await r.json();
  } finally {
    clearTimeout(timer);
  }
}

function secs(v) {
  if (typeof v !== "number" || !isFinite(v))
    return "-";
  if (v < 10)
    return v.toFixed(2) + " s";
  if (v < 600)
    return v.toFixed(1) + " s";
  return Math.round(v / 60) + " min";
}

function ago(unix) {
  if (!unix)
    return "";
  const d = Math.max(0, Date.now() / 1000 - unix);
  if (d < 90)
    return Math.round(d) + " s ago";
  if (d < 5400)
    return Math.round(d / 60) + " min ago";
  if (d < 172800)
    return (d / 3600).toFixed(1) + " h ago";
  return new Date(unix * 1000).toLocaleString();
}

function uptime(s) {
  if (typeof s !== "number")
    return "-";
  if (s < 120)
    return Math.round(s) + " s";
  if (s < 7200)
    return Math.round(s / 60) + " min";
  if (s < 172800)
    return (s / 3600).toFixed(1) + " h";
  return (s / 86400).toFixed(1) + " days";
}

function clock(unix) {
  return new Date(unix * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

function mib(b) {
  return typeof b === "number" ? (b / 1048576).toFixed(0) + " MiB" : "";
}

async function pollOne(inst) {
  try {
    const [st, hi] = await Promise.all([fetchTimed(inst.url + "status.json"),
      fetchTimed(inst.url + "history.json")]);
    inst.status = st;
    inst.history = hi;
    inst.state = st.busy_instances > 0 ? "busy" : "idle";
    inst.error = null;
  } catch (e) {
    inst.state = "down";
    inst.status = null;
    inst.history = null;
    if (e.name === "AbortError")
      inst.error = "no answer in " + TIMEOUT_MS + " ms";
    else if (/^HTTP 50[24]$/.test(e.message))
      inst.error = "not reachable (" + e.message + " from nginx)";
    else
      inst.error = String(e.message || e);
  }
}

/* ------------------------------------------------------------ the table */

function stateCell(inst) {
  const td = el("td");
  td.append(el("span", { class: "state " + inst.state }, inst.state));
  if (inst.status && inst.status.spool_full)
    td.append(" ", el("span", { class: "state down" }, "spool full"));
  return td;
}

function row(inst) {
  const tr = el("tr", { "data-instance": inst.name, "data-state": inst.state });
  const name = el("td", { class: "name" });
  name.append(single ? el("span", {}, "this instance") : el("a", { href: inst.url }, inst.name));
  tr.append(name, stateCell(inst));
  const st = inst.status;
  if (!st) {
    tr.append(el("td", { class: "muted" }, "-"), el("td", { class: "muted" }, "-"),
      el("td", { class: "muted" }, "-"), el("td", { class: "bad" }, inst.error || "unreachable"),
      el("td", { class: "muted" }, "-"));
    return tr;
  }
  const cur = st.current_task;
  if (cur) {
    const late = cur.age > cur.timeout + 60;
    const td = el("td", { class: late ? "bad" : "", "data-age": cur.age.toFixed(1), title: cur.id });
    td.append(el("b", {}, secs(cur.age)), el("span", { class: "muted" }, " of " + cur.timeout + " s"));
    tr.append(td);
  } else {
    tr.append(el("td", { class: "muted" }, "-"));
  }
  const lr = st.last_result;
  if (lr) {
    const td = el("td");
    td.append(el("span", { class: "status-" + lr.status }, lr.status + (lr.reason ? " (" + lr.reason + ")" : "")),
      el("span", { class: "muted" }, " " + secs(lr.total) + " \u00b7 " + ago(lr.finished_at)));
    tr.append(td);
  } else {
    tr.append(el("td", { class: "muted" }, "none yet"));
  }
  const deliver = el("td", { class: st.spool_pending > 0 ? "warn" : "" }, String(st.spool_pending ?? "-"));
  if (st.spool_dead > 0)
    deliver.append(el("span", { class: "bad" }, " \u00b7 " + st.spool_dead + " given up"));
  tr.append(deliver);
  const le = st.last_error;
  if (le) {
    const td = el("td", { class: "error" });
    td.append(el("span", {}, le.text), el("span", { class: "muted" }, " \u00b7 " + ago(le.at)));
    tr.append(td);
  } else {
    tr.append(el("td", { class: "muted" }, "none"));
  }
  tr.append(el("td", { class: "muted" }, uptime(st.uptime) + " \u00b7 v" + (st.version || "?")));
  return tr;
}

function renderAlerts() {
  const box = document.getElementById("alerts");
  const items = [];
  for (const i of instances) {
    const st = i.status;
    const who = single ? "" : "Instance " + i.name + ": ";
    if (st && st.spool_full)
      items.push(who + "spool full, new tasks are refused (503) until results are delivered: " +
        (st.spool_full_reason || ""));
    if (st && st.spool_dead > 0)
      items.push(who + st.spool_dead + " result(s) given up, kept in spool/dead");
  }
  box.replaceChildren(...items.map((t) => el("p", { class: "alert" }, t)));
}

/* ----------------------------------------------------------- the plots */

function plotBox(id, height) {
  const box = document.getElementById(id);
  const w = Math.max(320, Math.floor(box.clientWidth || 900));
  const s = svg("svg", { width: w, height: height, viewBox: "0 0 " + w + " " + height, role: "img" });
  return { box, s, w, h: height };
}

/* Log-scale y for durations: powers of ten around the data. */
function logScale(values, top, bottom) {
  const pos = values.filter((v) => typeof v === "number" && v > 0);
  let lo = Math.pow(10, Math.floor(Math.log10(Math.min(0.1, ...pos))));
  let hi = Math.pow(10, Math.ceil(Math.log10(Math.max(10, ...pos))));
  lo = Math.max(lo, 0.001);
  const f = (v) => {
    const c = Math.min(hi, Math.max(lo, v));
    return bottom - (Math.log10(c) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * (bottom - top);
  };
  const ticks = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10)
    ticks.push(t);
  return { f, ticks, lo };
}

function tickLabel(t) {
  return (t < 1 ? String(+t.toPrecision(1)) : String(Math.round(t))) + " s";
}

function renderDurations() {
  const tasks = [];
  for (const i of instances)
    for (const t of (i.history && i.history.tasks) || [])
      tasks.push(Object.assign({ instance: i.name }, t));
  tasks.sort((a, b) => a.finished_at - b.finished_at || (a.id < b.id ? -1 : 1));
  const shown = tasks.slice(-PLOT_MAX);
  document.getElementById("durations-hint").textContent = shown.length ?
    "the last " + shown.length + " task" + (shown.length > 1 ? "s" : "") +
    (single ? "" : " of all instances") + ", oldest left (log scale)" : "";
  const p = plotBox("durations", 230);
  const m = { l: 52, r: 12, t: 10, b: 26 };
  const y = logScale(shown.flatMap((t) => [t.run, t.total]), m.t, p.h - m.b);
  const grid = svg("g", { class: "grid" });
  for (const t of y.ticks) {
    const yy = y.f(t);
    grid.append(svg("line", { x1: m.l, x2: p.w - m.r, y1: yy, y2: yy }),
      svg("text", { x: m.l - 6, y: yy + 4, "text-anchor": "end" }, tickLabel(t)));
  }
  p.s.append(grid);
  const marks = svg("g", { class: "marks" });
  const slot = (p.w - m.l - m.r) / Math.max(shown.length, 30);
  const bw = Math.max(2, Math.min(16, slot * 0.7));
  const base = y.f(y.lo);
  shown.forEach((t, k) => {
    const cx = m.l + slot * (k + 0.5);
    const g = svg("g", { class: "task status-" + t.status, "data-task": t.id, "data-from": t.instance });
    const top = y.f(typeof t.total === "number" ? t.total : y.lo);
    g.append(svg("rect", { class: "bar", x: cx - bw / 2, y: top, width: bw, height: Math.max(1, base - top) }));
    if (typeof t.run === "number")
      g.append(svg("circle", { class: "dot", cx: cx, cy: y.f(t.run), r: Math.max(2.5, Math.min(5, bw / 2)) }));
    g.append(svg("title", {}, t.id + (single ? "" : " on instance " + t.instance) + "\n" + t.status +
      (t.reason ? " (" + t.reason + ")" : "") + "\nrun " + secs(t.run) + ", total " + secs(t.total) +
      (t.memory ? "\nmemory peak " + mib(t.memory) : "") + "\nfinished " + new Date(t.finished_at * 1000).toLocaleString()));
    marks.append(g);
  });
  p.s.append(marks);
  if (shown.length) {
    const axis = svg("g", { class: "axis" });
    axis.append(svg("text", { x: m.l, y: p.h - 6 }, clock(shown[0].finished_at)),
      svg("text", { x: m.l + slot * shown.length, y: p.h - 6, "text-anchor": "end" },
        clock(shown[shown.length - 1].finished_at)));
    p.s.append(axis);
  } else {
    p.s.append(svg("text", { class: "empty", x: p.w / 2, y: p.h / 2, "text-anchor": "middle" }, "no tasks yet"));
  }
  p.box.replaceChildren(p.s);
}

function renderCounts() {
  const sums = new Map();
  for (const i of instances)
    for (const c of (i.history && i.history.last_hour) || []) {
      const key = c.status + (c.reason ? " \u00b7 " + c.reason : "");
      const e = sums.get(key) || { status: c.status, reason: c.reason, count: 0 };
      e.count += c.count;
      sums.set(key, e);
    }
  const rows = [...sums.entries()].filter(([, e]) => e.count > 0 || e.reason !== "other");
  const max = Math.max(1, ...rows.map(([, e]) => e.count));
  const tb = document.querySelector("#counts tbody");
  tb.replaceChildren(...rows.map(([key, e]) => {
    const tr = el("tr", { "data-kind": e.status + (e.reason ? "/" + e.reason : ""), class: e.count ? "" : "zero" });
    const bar = el("td", { class: "barcell" });
    bar.append(el("div", { class: "hbar status-" + e.status, style: "width:" + (100 * e.count / max).toFixed(1) + "%" }));
    tr.append(el("td", { class: "kind" }, key), bar, el("td", { class: "num" }, String(e.count)));
    return tr;
  }));
}

function renderBacklog() {
  const pending = new Map(), dead = new Map();
  let step = 10;
  for (const i of instances) {
    const b = i.history && i.history.backlog;
    if (!b)
      continue;
    step = b.step;
    b.pending.forEach((v, k) => {
      const t = b.start + k * b.step;
      if (v !== null)
        pending.set(t, (pending.get(t) || 0) + v);
      if (b.dead[k] !== null)
        dead.set(t, (dead.get(t) || 0) + b.dead[k]);
    });
  }
  const p = plotBox("backlog", 190);
  const m = { l: 40, r: 12, t: 10, b: 26 };
  const now = Date.now() / 1000, from = now - 3600;
  const vals = [...pending.values(), ...dead.values()];
  const top = Math.max(4, Math.ceil(Math.max(0, ...vals) / 4) * 4);
  const x = (t) => m.l + (t - from) / 3600 * (p.w - m.l - m.r);
  const y = (v) => p.h - m.b - v / top * (p.h - m.b - m.t);
  const grid = svg("g", { class: "grid" });
  for (const v of [0, top / 2, top])
    grid.append(svg("line", { x1: m.l, x2: p.w - m.r, y1: y(v), y2: y(v) }),
      svg("text", { x: m.l - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  for (let mins = 60; mins >= 0; mins -= 15)
    grid.append(svg("text", { x: x(now - mins * 60), y: p.h - 6, "text-anchor": mins === 60 ? "start" : mins ? "middle" : "end" },
      mins ? "-" + mins + " min" : "now"));
  p.s.append(grid);
  /* One path per run of known slots; a slot is drawn as a step. */
  const series = (map, close) => {
    const keys = [...map.keys()].filter((t) => t + step >= from).sort((a, b) => a - b);
    let d = "", run = [];
    const flush = () => {
      if (!run.length)
        return;
      const pts = run.flatMap((t) => [[x(Math.max(t, from)), y(map.get(t))], [x(Math.min(t + step, now)), y(map.get(t))]]);
      d += "M" + pts.map((q) => q[0].toFixed(1) + "," + q[1].toFixed(1)).join("L");
      if (close)
        d += "L" + pts[pts.length - 1][0].toFixed(1) + "," + y(0) + "L" + pts[0][0].toFixed(1) + "," + y(0) + "Z";
      run = [];
    };
    keys.forEach((t, k) => {
      if (k > 0 && t - keys[k - 1] > step)
        flush();
      run.push(t);
    });
    flush();
    return d;
  };
  p.s.append(svg("path", { class: "pending", d: series(pending, true) || "M0,0" }),
    svg("path", { class: "dead", d: series(dead, false) || "M0,0" }));
  p.box.replaceChildren(p.s);
}

/* ------------------------------------------------------------- the page */

function render() {
  const n = (s) => instances.filter((i) => i.state === s).length;
  const load = instances.map((i) => i.status && i.status.loadavg).find((l) => Array.isArray(l));
  let text = single ? (instances[0] ? instances[0].state : "") :
    instances.length + " instances: " + n("busy") + " busy, " + n("idle") + " idle, " + n("down") + " down";
  if (load)
    text += " \u2014 load " + load.map((v) => v.toFixed(2)).join(" ");
  const sum = document.getElementById("summary");
  sum.textContent = text;
  sum.dataset.busy = n("busy");
  sum.dataset.idle = n("idle");
  sum.dataset.down = n("down");
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString([], { hourCycle: "h23" });
  document.querySelector("#instances tbody").replaceChildren(...instances.map(row));
  renderAlerts();
  renderDurations();
  renderCounts();
  renderBacklog();
}

async function pollAll() {
  await Promise.all(instances.map(pollOne));
  render();
  setTimeout(pollAll, POLL_MS);
}

async function start() {
  try {
    const list = await fetchTimed("pool/instances.json");
    single = list.single === true;
    for (const i of list.instances)
      instances.push({ name: String(i.name), url: String(i.url), state: "unknown" });
  } catch (e) {
    document.getElementById("summary").textContent = "cannot read pool/instances.json: " + (e.message || e);
    setTimeout(start, POLL_MS);
    return;
  }
  const title = single ? "sandboxd" : "tmc-sandbox pool";
  document.getElementById("title").textContent = title;
  document.title = title;
  document.body.classList.toggle("single", single);
  pollAll();
}

start();
