// Copy-link button for the player page (kept out of the HTML so the page CSP can forbid inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var url = button.getAttribute("data-copy");
      var label = button.textContent;
      function done(text) {
        button.textContent = text;
        setTimeout(function () { button.textContent = label; }, 2000);
      }
      function fallback() {
        // No clipboard API (plain http, old browsers): show the link selected for manual copying.
        var box = document.querySelector(".copy-fallback");
        if (!box) { return; }
        box.hidden = false;
        var input = box.querySelector("input");
        input.focus();
        input.select();
        done("Select and copy");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url).then(function () { done("Copied"); }, fallback);
      } else {
        fallback();
      }
    });
  });
});
