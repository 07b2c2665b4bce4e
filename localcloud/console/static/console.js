// Fills each <section class="part" data-src> with the HTML fragment at data-src, and
// refreshes it every data-every ms; a part marked data-until-complete stops refreshing
// once its fragment says data-complete="true" (or after two minutes).
"use strict";
(function () {
  function load(section, startedAt) {
    fetch(section.dataset.src, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var open = Array.prototype.map.call(section.querySelectorAll("details[open]"), function (d) { return d.id; });
        section.innerHTML = html;
        section.dataset.loaded = String(Number(section.dataset.loaded || 0) + 1);
        open.forEach(function (id) { var d = id && document.getElementById(id); if (d) d.open = true; });
        schedule(section, startedAt);
      })
      .catch(function (error) {
        section.innerHTML = '<p class="error">Could not load: ' + String(error) + "</p>";
        schedule(section, startedAt);
      });
  }
  function schedule(section, startedAt) {
    var every = Number(section.dataset.every || 0);
    if (!every) return;
    if ("untilComplete" in section.dataset) {
      var done = section.querySelector('[data-complete="true"]');
      if (done || Date.now() - startedAt > 120000) return;
    }
    var active = document.activeElement;
    if (active && section.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      // someone is filling in a form: do not replace it under their hands
      setTimeout(function () { schedule(section, startedAt); }, every);
      return;
    }
    setTimeout(function () { load(section, startedAt); }, every);
  }
  document.querySelectorAll("section.part[data-src]").forEach(function (section) { load(section, Date.now()); });
})();
