// Mempools console: the one script of our own (no inline script: the pages' CSP allows this origin only).
// It shows the live connection's state, and keeps the page consistent when htmx swaps parts of it.
(function () {
  "use strict";
  function setLive(state) {
    var dot = document.getElementById("live-state");
    if (!dot) return;
    dot.dataset.state = state;
    dot.title = "Live updates: " + state;
  }
  // The events htmx-ext-sse 2.2.4 fires: htmx:sseOpen, htmx:sseError, htmx:sseClose,
  // htmx:sseBeforeMessage, htmx:sseMessage (there is no "connecting" event: a page with a live
  // table starts as connecting, and an error while the EventSource retries is connecting again).
  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector("[sse-connect]")) setLive("connecting");
  });
  document.addEventListener("htmx:sseOpen", function () { setLive("open"); });
  document.addEventListener("htmx:sseError", function (event) {
    var source = event.detail && event.detail.source;
    setLive(source && source.readyState === EventSource.CONNECTING ? "connecting" : "closed");
  });
  document.addEventListener("htmx:sseClose", function () { setLive("closed"); });
  // A new row from the live stream: drop the "nothing yet" placeholder of its table.
  document.addEventListener("htmx:sseMessage", function (event) {
    var target = event.target;
    if (target && target.querySelector) {
      var empty = target.querySelector("tr.empty");
      if (empty) empty.remove();
    }
  });
  // Buttons that need a confirmation carry data-confirm (hx-confirm would need inline handlers).
  document.addEventListener("htmx:confirm", function (event) {
    var question = event.target && event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (!question) return;
    event.preventDefault();
    if (window.confirm(question)) event.detail.issueRequest(true);
  });
  document.addEventListener("submit", function (event) {
    var question = event.target && event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !event.target.hasAttribute("hx-post") && !window.confirm(question)) event.preventDefault();
  });
})();
