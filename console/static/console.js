// Live countdowns: any element with data-deadline="ISO-8601" shows the time left.
(function () {
  "use strict";
  function fmt(ms) {
    var neg = ms < 0, s = Math.floor(Math.abs(ms) / 1000);
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60), sec = s % 60;
    var out = (d ? d + "j " : "") + String(h).padStart(2, "0") + ":" +
      String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
    return (neg ? "-" : "") + out;
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(due)) { return; }
      var left = due - now;
      el.textContent = fmt(left);
      el.classList.toggle("overdue", left < 0);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
})();

// The incident page's steps and folded sections are <details>: a link to something inside a
// closed one (the next-action banner, the steps, a redirect back to a form) opens it first.
(function () {
  "use strict";
  function reveal(id) {
    var target = id ? document.getElementById(id) : null;
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS" && !el.open) { el.open = true; }
    }
    return target;
  }
  function fromHash(hash) {
    return hash && hash.charAt(0) === "#" ? decodeURIComponent(hash.slice(1)) : "";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var target = reveal(fromHash(window.location.hash));
    if (target) { target.scrollIntoView(); }
  });
  window.addEventListener("hashchange", function () { reveal(fromHash(window.location.hash)); });
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("a[href^='#']") : null;
    if (link) { reveal(fromHash(link.getAttribute("href"))); }
  });
})();
