// "Play all" on the bundle page: the audio and video files one after another in one player
// (kept out of the HTML so the page CSP can forbid inline script).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var section = document.querySelector(".bundle-player");
  var player = document.getElementById("bundle-player");
  var label = document.querySelector(".bundle-now-playing");
  var playAll = document.getElementById("play-all");
  if (!section || !player || !playAll) { return; }
  var items = Array.prototype.slice.call(document.querySelectorAll(".bundle-file[data-src]"));
  var current = -1;

  function mark() {
    items.forEach(function (item, index) { item.classList.toggle("playing", index === current); });
  }

  function play(index) {
    if (index < 0 || index >= items.length) {
      current = -1;
      label.textContent = label.getAttribute("data-finished") || "Finished.";
      mark();
      return;
    }
    current = index;
    section.hidden = false;
    player.src = items[index].getAttribute("data-src");
    label.textContent = (index + 1) + " " + (label.getAttribute("data-of") || "of") + " " + items.length + ": " + items[index].getAttribute("data-title");
    mark();
    var started = player.play();
    // A browser may refuse to start playing by itself; the controls are there for the person.
    if (started && typeof started.catch === "function") { started.catch(function () {}); }
  }

  player.addEventListener("ended", function () { play(current + 1); });
  // A file this browser cannot play is skipped rather than stopping the whole list.
  player.addEventListener("error", function () { if (current >= 0) { play(current + 1); } });
  playAll.addEventListener("click", function () { play(0); });
  document.getElementById("play-next").addEventListener("click", function () { play(current + 1); });
  document.getElementById("play-previous").addEventListener("click", function () { play(Math.max(0, current - 1)); });
  items.forEach(function (item, index) {
    var button = item.querySelector(".play-one");
    if (button) { button.addEventListener("click", function () { play(index); }); }
  });
});
