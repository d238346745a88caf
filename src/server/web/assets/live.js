// Gryt Cloud web view: keeps a page live without a reload. Every two seconds it asks the
// server for the same page with ?since=FINGERPRINT (what the page shows): 204 while the
// project is unchanged, else the new content of <main>, swapped in. Anything else (signed
// out, gone) reloads the page, which then says so. Without this script the pages read the same.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.live || !window.fetch) return;
  var status = document.getElementById("live-status");
  var busy = false;

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    var url = location.pathname + "?since=" + encodeURIComponent(main.dataset.live);
    fetch(url, { credentials: "same-origin", cache: "no-store", redirect: "manual" })
      .then(function (r) {
        if (r.status === 204) return null;
        if (r.status !== 200) {
          location.reload();
          return null;
        }
        var fp = r.headers.get("x-gryt-fingerprint");
        return r.text().then(function (html) {
          main.innerHTML = html;
          if (fp) main.dataset.live = fp;
          if (status) status.textContent = "Updated at " + new Date().toLocaleTimeString() + ".";
        });
      })
      .catch(function () { /* the server is away: try again at the next tick */ })
      .then(function () { busy = false; });
  }

  setInterval(poll, 2000);
  document.addEventListener("visibilitychange", poll);
})();
