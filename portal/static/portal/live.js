// The live channel in the browser (docs/agent-workspace.md, "Live updates").
//
// An element with hx-ext="sse" and sse-connect opens one event stream (htmx's sse extension,
// portal/static/vendor/htmx-ext-sse.js); fragments under it reload themselves on the events
// they name (hx-trigger="sse:offer, ..."). This file adds what the extension does not do:
// - events that come in bursts (a queue's news, the board's figures) reload a fragment at
//   most once a second: they are turned into "live-queue" and "live-board" on <body>;
// - after a connection is lost (not a planned "bye"), everything reloads in full once it is
//   back ("live-refresh" on <body>), and while it is away the fragments are reloaded every
//   data-fallback-ms instead: polling only as a fallback;
// - the data-live-state element says "Reconnecting…" meanwhile.
(function () {
  "use strict";
  if (window.handoffLive) return; // boosted navigation may run this file again
  window.handoffLive = true;

  const BURSTS = { queue: "live-queue", presence: "live-board" };
  // Every event name the server sends (handoff/engine/live.py, Kind).
  const KINDS = ["hello", "offer", "handoff", "capacity", "queue", "presence", "joined", "closed",
    "waiting", "message", "refresh", "bye"];
  const lastIds = {}; // stream URL -> the id of the last event this page got from it

  // The browser resends Last-Event-ID when it reconnects by itself; when the htmx extension
  // gives up on a source and opens a new one, the id rides in the query string instead, so
  // the server still replays what was missed.
  htmx.createEventSource = function (url) {
    const last = lastIds[url];
    const full = last ? url + (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + last : url;
    const source = new EventSource(full, { withCredentials: true });
    KINDS.forEach(function (kind) {
      source.addEventListener(kind, function (evt) {
        if (evt.lastEventId) lastIds[url] = evt.lastEventId;
      });
    });
    return source;
  };
  const BURST_MS = 1000;
  const hooked = new WeakSet();
  const state = new WeakMap(); // sse-connect element -> {opened, planned, lost, fallback}

  function fire(name) {
    document.body.dispatchEvent(new CustomEvent(name, { bubbles: true }));
  }

  // At most one reload per BURST_MS and event name; the last event of a burst is never lost.
  const timers = {};
  const lastFired = {};
  function burst(name) {
    if (timers[name]) return;
    const wait = Math.max(0, (lastFired[name] || 0) + BURST_MS - Date.now());
    timers[name] = setTimeout(function () {
      timers[name] = null;
      lastFired[name] = Date.now();
      fire(name);
      if (name === "live-queue") fire("live-board"); // the board reads every queue's news
    }, wait);
  }

  function stateOf(elt) {
    let s = state.get(elt);
    if (!s) {
      s = { opened: false, planned: false, lost: false, fallback: null };
      state.set(elt, s);
    }
    return s;
  }

  function showState(elt, lost) {
    elt.dataset.liveConnected = lost ? "false" : "true";
    const note = elt.querySelector("[data-live-state]");
    if (note) note.hidden = !lost;
  }

  function stopFallback(s) {
    if (s.fallback) clearInterval(s.fallback);
    s.fallback = null;
  }

  document.addEventListener("htmx:sseOpen", function (evt) {
    const elt = evt.target;
    const source = evt.detail.source;
    const s = stateOf(elt);
    if (!hooked.has(source)) {
      hooked.add(source);
      Object.keys(BURSTS).forEach(function (kind) {
        source.addEventListener(kind, function () { burst(BURSTS[kind]); });
      });
      source.addEventListener("bye", function () { s.planned = true; });
    }
    stopFallback(s);
    showState(elt, false);
    // Back after a loss: what happened meanwhile may not all be events we still get.
    if (s.lost) fire("live-refresh");
    s.opened = true;
    s.lost = false;
    s.planned = false;
  });

  document.addEventListener("htmx:sseError", function (evt) {
    const elt = evt.target;
    const s = stateOf(elt);
    if (s.planned) {
      s.planned = false; // the server ended the stream on purpose: it resumes by itself
      return;
    }
    s.lost = true;
    showState(elt, true);
    if (!s.fallback && document.body.contains(elt)) {
      const every = Number(elt.dataset.fallbackMs || 5000);
      s.fallback = setInterval(function () {
        if (!document.body.contains(elt)) return stopFallback(s);
        fire("live-refresh");
      }, every);
    }
  });

  document.addEventListener("htmx:sseClose", function (evt) {
    stopFallback(stateOf(evt.target));
    // The page moved on: a new page of the same stream starts from now, not from here.
    const url = evt.target.getAttribute && evt.target.getAttribute("sse-connect");
    if (url) delete lastIds[url];
  });
})();
