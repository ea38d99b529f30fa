// The test receiver page: reload the list of received requests every few seconds,
// keeping open whichever entries the reader has expanded.
(function () {
  "use strict";
  var box = document.querySelector("[data-live-refresh]");
  if (!box) return;
  var url = box.getAttribute("data-live-refresh");
  var busy = false;

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    var open = {};
    box.querySelectorAll("details[open]").forEach(function (d) { open[d.getAttribute("data-webhook-id")] = true; });
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        box.innerHTML = html;
        box.querySelectorAll("details").forEach(function (d) {
          if (open[d.getAttribute("data-webhook-id")]) d.open = true;
        });
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  window.setInterval(refresh, 2000);
})();
