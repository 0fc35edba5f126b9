// guichet console: short poll of the federation grid. Every 5 s the grid is fetched
// again (same session cookie) and replaced; without JavaScript the page still shows
// the state at its load. No other script runs in the console.
(function () {
  "use strict";
  var grid = document.getElementById("grid");
  var status = document.getElementById("live-status");
  if (!grid || !window.fetch) {
    return;
  }
  function tick() {
    fetch("/console/federation/grid", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) {
          throw new Error(String(r.status));
        }
        return r.text();
      })
      .then(function (html) {
        grid.innerHTML = html;
        if (status) {
          status.textContent = "Updated " + new Date().toLocaleTimeString();
        }
      })
      .catch(function () {
        if (status) {
          status.textContent = "Live refresh paused: reload the page.";
        }
      });
  }
  window.setInterval(tick, 5000);
})();
