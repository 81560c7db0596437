// provision: keeps the rack view live from the API's event stream and
// shows a node's timeline when it is clicked. Plain DOM, no framework.
"use strict";

(() => {
  const states = document.body.dataset.states.split(" ");
  const known = {};   // node name -> seq of the event its view shows
  let lastSeq = 0;    // last event seen on the stream
  let selected = "";  // node whose detail is open
  let detail = null;  // and its detail
  const $ = (id) => document.getElementById(id);

  // step says in a few words what a node last did (webui.Step in Go).
  function step(st) {
    if (st.state === "failed" && st.reason) return st.reason;
    const e = st.last || {};
    if (!e.kind) return "";
    let s = e.source + " " + e.kind;
    if (e.message) s += ": " + e.message;
    else if (e.attrs && e.attrs.file) s += " " + e.attrs.file;
    else if (e.ip) s += " " + e.ip;
    return s;
  }

  // progress is how far through an install a state is (webui.Progress).
  function progress(state) {
    if (state === "failed") return 100;
    const i = states.indexOf(state);
    return i < 0 ? 0 : Math.floor(i * 100 / (states.length - 2));
  }

  // show draws a node's status unless the view already shows a later one.
  // A status with no event at all (seq 0) is older than any with one: a
  // resync's answer can arrive after a live update it predates.
  function show(st, flash) {
    const el = $("node-" + st.node);
    if (!el) return;
    const seq = (st.last && st.last.seq) || 0;
    if (known[st.node] && seq < known[st.node]) return;
    known[st.node] = Math.max(seq, known[st.node] || 0);
    for (const c of [...el.classList]) if (c.startsWith("state-")) el.classList.remove(c);
    el.classList.add("state-" + st.state);
    el.querySelector(".state").textContent = st.state;
    el.querySelector(".step").textContent = step(st);
    el.querySelector("progress").value = progress(st.state);
    el.title = st.node + ": " + st.state;
    el.dataset.state = st.state;
    if (flash) {
      el.classList.remove("flash");
      void el.offsetWidth; // restart the animation
      el.classList.add("flash");
    }
  }

  function recount() {
    const count = {};
    for (const el of document.querySelectorAll(".node")) {
      const s = [...el.classList].find((c) => c.startsWith("state-")).slice(6);
      count[s] = (count[s] || 0) + 1;
    }
    for (const li of document.querySelectorAll("#legend li")) {
      li.querySelector("b").textContent = count[li.dataset.state] || 0;
    }
  }

  async function getJSON(url) {
    const r = await fetch(url, { headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(url + ": " + r.status);
    return r.json();
  }

  // resync reads every node's status: on (re)connecting, and after a gap
  // in the stream (the appliance drops updates for a client that lags).
  async function resync() {
    try {
      for (const n of await getJSON("/api/v1/nodes")) show(n, false);
      recount();
    } catch (err) {
      $("last").textContent = "cannot read the nodes: " + err.message;
    }
  }

  function fmtTime(t) {
    const d = new Date(t);
    return isNaN(d) ? t : d.toISOString().slice(11, 19);
  }

  function what(e) {
    const parts = [];
    if (e.message) parts.push(e.message);
    if (e.ip) parts.push(e.ip);
    for (const [k, v] of Object.entries(e.attrs || {})) parts.push(k + "=" + v);
    return parts.join(" · ");
  }

  function row(e) {
    const tr = document.createElement("tr");
    tr.dataset.seq = e.seq;
    for (const v of [fmtTime(e.time), e.source, e.kind, what(e)]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  }

  function logLine(e) {
    return fmtTime(e.time) + " " + e.source + "/" + e.kind + ": " + e.message;
  }

  // facts fills the detail's heading and facts from a node (the API's
  // node detail, or its status merged in by a live update).
  function facts(d) {
    $("detail-name").textContent = d.node + " · " + d.state;
    const dl = $("detail-facts");
    dl.replaceChildren();
    for (const [k, v] of [["fqdn", d.fqdn], ["roles", (d.roles || []).join(", ")], ["rack", d.rack ? d.rack + " U" + d.unit : "–"],
      ["address", d.address || "–"], ["netboot", d.netboot ? "on (next boot installs)" : "off"],
      ["attempt", d.by_hand ? d.attempt + " (started by hand: netboot on, no rollout)" : d.attempt],
      ["retries", d.retries || 0], ["step", step(d) || "–"]]) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      dl.append(dt, dd);
    }
  }

  async function open(name) {
    selected = name;
    for (const el of document.querySelectorAll(".node.selected")) el.classList.remove("selected");
    const el = $("node-" + name);
    if (el) el.classList.add("selected");
    let d;
    try {
      d = await getJSON("/api/v1/nodes/" + encodeURIComponent(name));
    } catch (err) {
      $("last").textContent = "cannot read " + name + ": " + err.message;
      return;
    }
    if (selected !== name) return;
    detail = d;
    facts(d);
    $("detail-log").textContent = (d.log || []).join("\n") || "(no log lines yet)";
    const body = $("detail-timeline").querySelector("tbody");
    body.replaceChildren(...(d.timeline || []).slice().reverse().map(row));
    $("detail").hidden = false;
  }

  function onUpdate(msg) {
    const u = JSON.parse(msg.data);
    const e = u.event;
    if (lastSeq && e.seq > lastSeq + 1) resync();
    lastSeq = Math.max(lastSeq, e.seq);
    $("last").textContent = fmtTime(e.time) + " " + (e.node || e.mac || "-") + " " + e.source + "/" + e.kind + (e.message ? ": " + e.message : "");
    if (u.status) {
      show(u.status, true);
      recount();
    }
    if (e.node && e.node === selected) {
      if (u.status && detail) {
        detail = Object.assign(detail, u.status);
        facts(detail);
      }
      const body = $("detail-timeline").querySelector("tbody");
      if (!body.querySelector(`tr[data-seq="${e.seq}"]`)) body.prepend(row(e));
      if (e.message) {
        const log = $("detail-log");
        log.textContent = (log.textContent.startsWith("(no log") ? "" : log.textContent + "\n") + logLine(e);
      }
    }
  }

  function connect() {
    const live = $("live");
    const es = new EventSource("/api/v1/events");
    es.addEventListener("open", () => {
      live.className = "live on";
      live.textContent = "live";
      // (Re)connected, perhaps to an appliance whose state was rebuilt:
      // what the view showed is no longer the measure of what is newer.
      for (const n of Object.keys(known)) delete known[n];
      lastSeq = 0;
      resync();
    });
    es.addEventListener("error", () => {
      live.className = "live off";
      live.textContent = "reconnecting…";
    });
    es.addEventListener("update", onUpdate);
  }

  document.addEventListener("click", (ev) => {
    const a = ev.target.closest(".node");
    if (a) {
      ev.preventDefault();
      open(a.dataset.node);
      return;
    }
    if (ev.target.id === "close") {
      selected = "";
      detail = null;
      $("detail").hidden = true;
      for (const el of document.querySelectorAll(".node.selected")) el.classList.remove("selected");
    }
  });

  for (const el of document.querySelectorAll(".node")) el.dataset.state = el.querySelector(".state").textContent;
  connect();
})();
