// Agent workspace and supervisor board.
// - Countdowns and waits: the server renders seconds (so a wrong client clock does not
//   matter); this counts them down (offers) or up (waits) between two reloads of a fragment.
// - Offer alerts: when the inbox shows an offer this tab has not seen, the tab title counts
//   the pending offers, a short sound plays, a browser notification shows (once the agent
//   allowed it), and the aria-live region announces it. Each is switched in My settings; the
//   #live element carries the choices (data-alert-*).
(function () {
  "use strict";
  if (window.handoffAgent) return; // boosted navigation may run this file again
  window.handoffAgent = true;

  // -- countdowns and waits ---------------------------------------------------------------

  function duration(seconds) {
    const formats = document.getElementById("duration-formats");
    if (!formats) return String(seconds);
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const format = h ? formats.dataset.h : m ? formats.dataset.m : formats.dataset.s;
    return format.replace("%(h)d", h).replace("%(m)d", m).replace("%(s)d", s);
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll("[data-seconds-left]").forEach(function (el) {
      if (!el.dataset.deadline) {
        el.dataset.deadline = String(now + Number(el.dataset.secondsLeft) * 1000);
      }
      const left = Math.max(0, Math.ceil((Number(el.dataset.deadline) - now) / 1000));
      el.textContent = String(left);
      const box = el.closest(".countdown");
      if (box) box.classList.toggle("urgent", left <= 10);
    });
    document.querySelectorAll("[data-elapsed]").forEach(function (el) {
      if (!el.dataset.since) el.dataset.since = String(now - Number(el.dataset.elapsed) * 1000);
      el.textContent = duration(Math.floor((now - Number(el.dataset.since)) / 1000));
    });
  }

  // -- offer alerts -------------------------------------------------------------------------

  const SEEN = "handoff-offers-seen";

  function live() {
    return document.getElementById("live");
  }

  function on(name) {
    const el = live();
    return Boolean(el) && el.dataset[name] === "1";
  }

  function seen() {
    try {
      return new Set(JSON.parse(sessionStorage.getItem(SEEN) || "[]"));
    } catch (e) {
      return new Set();
    }
  }

  function title(count) {
    const base = document.title.replace(/^\(\d+\) /, "");
    document.title = count && on("alertTitle") ? "(" + count + ") " + base : base;
  }

  function announce(text) {
    const region = document.getElementById("offer-announcer");
    if (!region) return;
    // A change of text is what a screen reader announces: clear first, then say it.
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 50);
  }

  function sound() {
    const el = live();
    if (!on("alertSound") || !el.dataset.soundUrl) return;
    const audio = new Audio(el.dataset.soundUrl);
    // Browsers refuse sound before the person has used the page once: nothing to do then.
    audio.play().catch(function () {});
  }

  function notify(offer) {
    if (!on("alertNotification") || !("Notification" in window)) return;
    if (Notification.permission !== "granted") return;
    const note = new Notification(live().dataset.notificationTitle || "", {
      body: offer.dataset.announce || "",
      tag: "offer-" + offer.dataset.handoff,
    });
    note.onclick = function () {
      window.focus();
      note.close();
    };
  }

  function checkOffers() {
    const inbox = document.getElementById("inbox");
    if (!inbox || !live()) {
      title(0);
      return;
    }
    const offers = Array.from(inbox.querySelectorAll(".work.offer[data-handoff]"));
    const known = seen();
    const fresh = offers.filter(function (o) { return !known.has(o.dataset.handoff); });
    title(offers.length);
    sessionStorage.setItem(SEEN, JSON.stringify(offers.map(function (o) { return o.dataset.handoff; })));
    if (!fresh.length) return;
    announce(fresh.map(function (o) { return o.dataset.announce; }).join(" "));
    sound();
    fresh.forEach(notify);
  }

  function notificationButton() {
    const button = document.getElementById("enable-notifications");
    if (!button) return;
    const can = "Notification" in window && on("alertNotification");
    button.hidden = !can || Notification.permission !== "default";
    const blocked = document.getElementById("notifications-blocked");
    if (blocked) blocked.hidden = !can || Notification.permission !== "denied";
  }

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest || !evt.target.closest("#enable-notifications")) return;
    Notification.requestPermission().then(notificationButton);
  });

  function refresh() {
    tick();
    checkOffers();
    notificationButton();
  }

  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", refresh);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
