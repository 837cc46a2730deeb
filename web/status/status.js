/*
 * status.js: fills the pool status page. Reads the instance list from
 * pool/instances.json (written into the nginx site by gen-site.sh), then
 * every POLL_MS polls each instance's status.json (busy/idle, last result)
 * and metrics (tasks by status, durations, delivery failures) through the
 * per-instance URLs, and shows one card per instance plus the tasks seen
 * finishing since the page was opened.
 *
 * Never: writes anything an instance sent as HTML (textContent only), or
 * polls faster than POLL_MS (a hung instance is given up after
 * TIMEOUT_MS and shown as down).
 */
"use strict";

const POLL_MS = 2000;
const TIMEOUT_MS = 1500;
const RECENT_MAX = 30;

const instances = [];	/* {name, url, state, status, metrics, error, lastId} */
const recent = [];	/* newest first: {at, name, id, status, reason, run, total} */

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {}))
    e.setAttribute(k, v);
  if (text !== undefined)
    e.textContent = text;
  return e;
}

async function fetchTimed(url, as) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const r = await fetch(url, { cache: "no-store", signal: ctl.signal });
    if (!r.ok)
      throw new Error("HTTP " + r.status);
    return as === "json" ? await r.json() : await r.text();
  } finally {
    clearTimeout(timer);
  }
}

/* The few Prometheus lines the page shows, as {name{labels}: value}. */
function parseMetrics(text) {
  const m = {};
  for (const line of text.split("\n")) {
    if (line === "" || line[0] === "#")
      continue;
    const sp = line.lastIndexOf(" ");
    if (sp > 0)
      m[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return m;
}

function secs(v) {
  if (typeof v !== "number" || !isFinite(v))
    return "-";
  return v < 10 ? v.toFixed(2) + " s" : v.toFixed(1) + " s";
}

function ago(unix) {
  if (!unix)
    return "-";
  const d = Math.max(0, Date.now() / 1000 - unix);
  if (d < 90)
    return Math.round(d) + " s ago";
  if (d < 5400)
    return Math.round(d / 60) + " min ago";
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

async function pollOne(inst) {
  try {
    const [st, mt] = await Promise.all([
      fetchTimed(inst.url + "status.json", "json"),
      fetchTimed(inst.url + "metrics", "text").catch(() => null),
    ]);
    inst.status = st;
    inst.metrics = mt ? parseMetrics(mt) : inst.metrics;
    inst.state = st.busy_instances > 0 ? "busy" : "idle";
    inst.error = null;
    const lr = st.last_result;
    if (lr && lr.id && lr.id !== inst.lastId) {
      inst.lastId = lr.id;
      recent.unshift({ at: lr.finished_at, name: inst.name, id: lr.id, status: lr.status,
        reason: lr.reason || "", run: lr.run, total: lr.total });
      recent.sort((a, b) => (b.at || 0) - (a.at || 0));
      recent.length = Math.min(recent.length, RECENT_MAX);
    }
  } catch (e) {
    inst.state = "down";
    if (e.name === "AbortError")
      inst.error = "no answer in " + TIMEOUT_MS + " ms";
    else if (/^HTTP 50[24]$/.test(e.message))
      inst.error = "not reachable (" + e.message + " from nginx)";
    else
      inst.error = String(e.message || e);
  }
}

function card(inst) {
  const c = el("article", { class: "card", "data-instance": inst.name, "data-state": inst.state });
  const h = el("h3");
  const a = el("a", { href: inst.url }, "Instance " + inst.name);
  h.append(a, el("span", { class: "state " + inst.state }, inst.state));
  c.append(h);
  const dl = el("dl");
  const row = (k, v, cls) => {
    dl.append(el("dt", {}, k), el("dd", cls ? { class: cls } : {}, v));
  };
  row("URL", inst.url);
  if (inst.state === "down") {
    row("error", inst.error || "unreachable", "bad");
    c.append(dl);
    return c;
  }
  const st = inst.status || {};
  const m = inst.metrics || {};
  const fin = m['sandboxd_tasks_total{status="finished"}'];
  const failed = m['sandboxd_tasks_total{status="failed"}'];
  const tmo = m['sandboxd_tasks_total{status="timeout"}'];
  const dsum = m["sandboxd_task_duration_seconds_sum"];
  const dcount = m["sandboxd_task_duration_seconds_count"];
  const givenUp = m["sandboxd_notify_given_up_total"];
  row("tasks run", String(st.tasks_run ?? "-"));
  if (fin !== undefined)
    row("finished", String(fin));
  if (failed !== undefined)
    row("failed / timeout", failed + " / " + tmo, failed + tmo > 0 ? "bad" : "");
  if (dcount > 0)
    row("mean duration", secs(dsum / dcount));
  const lr = st.last_result;
  if (lr) {
    row("last task", lr.status + (lr.reason ? " (" + lr.reason + ")" : ""), lr.status === "finished" ? "" : "bad");
    row("  ended", ago(lr.finished_at));
    row("  run / total", secs(lr.run) + " / " + secs(lr.total));
  } else {
    row("last task", "none yet");
  }
  row("uploads rejected", String(st.uploads_rejected ?? "-"));
  row("results to deliver", String(st.spool_pending ?? "-"), st.spool_pending > 0 ? "bad" : "");
  if (givenUp > 0)
    row("results given up", String(givenUp), "bad");
  row("uptime", uptime(st.uptime) + ", v" + (st.version || "?"));
  c.append(dl);
  return c;
}

function render() {
  const box = document.getElementById("instances");
  box.replaceChildren(...instances.map(card));
  const n = (s) => instances.filter((i) => i.state === s).length;
  const load = instances.map((i) => i.status && i.status.loadavg).find((l) => Array.isArray(l));
  let text = instances.length + " instances: " + n("busy") + " busy, " + n("idle") + " idle, " + n("down") + " down";
  if (load)
    text += " \u2014 load " + load.map((x) => x.toFixed(2)).join(" ");
  const sum = document.getElementById("summary");
  sum.textContent = text;
  sum.dataset.busy = n("busy");
  sum.dataset.idle = n("idle");
  sum.dataset.down = n("down");
  document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  const tb = document.querySelector("#recent tbody");
  tb.replaceChildren(...recent.map((r) => {
    const tr = el("tr");
    tr.append(el("td", {}, ago(r.at)), el("td", {}, r.name), el("td", {}, r.id),
      el("td", { class: "status-" + r.status }, r.status), el("td", {}, r.reason),
      el("td", {}, secs(r.run)), el("td", {}, secs(r.total)));
    return tr;
  }));
}

async function pollAll() {
  await Promise.all(instances.map(pollOne));
  render();
  setTimeout(pollAll, POLL_MS);
}

async function start() {
  try {
    const list = await fetchTimed("pool/instances.json", "json");
    for (const i of list.instances)
      instances.push({ name: String(i.name), url: String(i.url), state: "unknown" });
  } catch (e) {
    document.getElementById("summary").textContent = "cannot read pool/instances.json: " + (e.message || e);
    setTimeout(start, POLL_MS);
    return;
  }
  pollAll();
}

start();
