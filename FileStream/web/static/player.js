// The player page's behaviour, kept out of the HTML so the page CSP can forbid inline script:
// the copy-link button, and the audio cover shown only once the image has loaded.
"use strict";

function setUpCopyButtons() {
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
        done(button.getAttribute("data-select") || "Select and copy");
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(url).then(function () { done(button.getAttribute("data-copied") || "Copied"); }, fallback);
      } else {
        fallback();
      }
    });
  });
}

function setUpCover() {
  // Not every audio file has a cover: the placeholder stays unless the image really loads,
  // so a missing one never shows as a broken image.
  var cover = document.querySelector(".cover");
  var placeholder = document.querySelector(".cover-placeholder");
  if (!cover || !placeholder) { return; }
  function show() {
    if (cover.naturalWidth > 0) {
      cover.hidden = false;
      placeholder.hidden = true;
    }
  }
  if (cover.complete) { show(); } else { cover.addEventListener("load", show); }
}

document.addEventListener("DOMContentLoaded", function () {
  setUpCopyButtons();
  setUpCover();
});
