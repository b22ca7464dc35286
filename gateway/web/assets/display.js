// The checkout display: a countdown to the order's expiry, and its state
// from the server's event stream (Paid the moment the payment commits).
(function () {
  "use strict";
  var T = JSON.parse(document.getElementById("strings").textContent);
  var root = document.getElementById("display");
  var statusEl = document.getElementById("status");
  var countEl = document.getElementById("countdown");
  var expires = new Date(root.dataset.expires).getTime();
  var state = "created";
  var source = null;

  function show(s) {
    if (state !== "created") return; // an ended order never changes again
    state = s;
    root.dataset.status = s;
    statusEl.textContent = T["display_status_" + s] || s;
    if (s !== "created" && source) source.close();
  }

  function two(n) { return (n < 10 ? "0" : "") + n; }

  function tick() {
    if (state !== "created") return;
    var left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    countEl.textContent = Math.floor(left / 60) + ":" + two(left % 60);
    countEl.setAttribute("datetime", "PT" + left + "S");
    if (left === 0) show("expired");
  }

  source = new EventSource(root.dataset.events);
  source.addEventListener("status", function (e) {
    var d = JSON.parse(e.data);
    if (d.status !== "created") show(d.status);
  });
  source.addEventListener("error", function () {
    // The browser reconnects by itself; a link that has ended answers 404
    // and the stream closes for good.
    if (source.readyState === EventSource.CLOSED && state === "created") show("ended");
  });
  tick();
  setInterval(tick, 1000);
})();
