// Keeps the live log scrolled to the bottom while the owner has not scrolled up.
(function () {
  function follow(evt) {
    var log = document.getElementById("log");
    if (!log) return;
    var nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    // When the run is over the log shows its end (where the outcome is), once.
    var done = document.querySelector("#log-poller[data-finished]");
    var ended = done && !log.hasAttribute("data-ended");
    if (ended) log.setAttribute("data-ended", "1");
    if (nearBottom || ended || evt === "load") log.scrollTop = log.scrollHeight;
  }
  document.addEventListener("DOMContentLoaded", function () { follow("load"); });
  document.body && document.body.addEventListener("htmx:afterSwap", follow);
  document.addEventListener("htmx:afterSwap", follow);
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-copy]");
    if (!t) return;
    var el = document.getElementById(t.getAttribute("data-copy"));
    if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent.trim());
    t.textContent = "Copied";
  });
  // Small screens: the navigation folds behind the Menu button.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("#menu-button");
    if (!b) return;
    var open = b.closest("header").classList.toggle("open");
    b.setAttribute("aria-expanded", open ? "true" : "false");
  });
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  });
})();
