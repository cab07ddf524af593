// Agent workspace: offer countdowns. The server renders the seconds left (so a wrong client
// clock does not matter); this only counts them down between two polls of the inbox.
(function () {
  "use strict";
  if (window.handoffCountdown) return; // boosted navigation may run this file again
  window.handoffCountdown = true;

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
  }

  setInterval(tick, 1000);
  document.addEventListener("htmx:afterSettle", tick);
  document.addEventListener("DOMContentLoaded", tick);
})();
