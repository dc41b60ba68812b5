// The player page's behaviour, kept out of the HTML so the page CSP can forbid inline script:
// the copy-link button, the audio cover shown only once the image has loaded, and a video
// converted while it plays (/play): its jump bar, its audio chooser, its subtitles kept in
// time, and the fall back to the original file when the conversion is not available.
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

function clockText(seconds) {
  var whole = Math.max(0, Math.floor(seconds));
  var hours = Math.floor(whole / 3600);
  var minutes = Math.floor((whole % 3600) / 60);
  var secs = whole % 60;
  var two = function (n) { return (n < 10 ? "0" : "") + n; };
  return (hours ? hours + ":" + two(minutes) : String(minutes)) + ":" + two(secs);
}

function setUpVideo() {
  var video = document.querySelector("video.player");
  if (!video) { return; }
  var state = {
    mode: video.getAttribute("data-mode"),      // "original" or "remux"
    offset: 0,                                   // where the converted stream started, in seconds
    audio: 0,
    duration: parseFloat(video.getAttribute("data-duration")) || 0,
    dragging: false
  };
  var seek = document.querySelector(".seek");
  var clock = document.querySelector(".clock");
  var choice = document.querySelector(".audio-choice");
  var playUrl = video.getAttribute("data-play");
  var startUrl = video.getAttribute("data-start");
  var streamUrl = video.getAttribute("data-stream");

  function show(selector) {
    var note = document.querySelector(selector);
    if (note) { note.hidden = false; }
  }

  function position() {
    return state.mode === "remux" ? state.offset + video.currentTime : video.currentTime;
  }

  function retimeSubtitles() {
    // The converted stream starts at 0 whatever time it was asked from: its cues move with it.
    video.querySelectorAll("track").forEach(function (track, index) {
      var base = track.getAttribute("src").split("?")[0];
      var wanted = state.mode === "remux" && state.offset > 0 ? base + "?shift=" + state.offset : base;
      if (track.getAttribute("src") === wanted) { return; }
      var mode = video.textTracks[index] ? video.textTracks[index].mode : "disabled";
      var fresh = track.cloneNode(false);
      fresh.setAttribute("src", wanted);
      track.replaceWith(fresh);
      fresh.track.mode = mode;
    });
  }

  function fallBack() {
    // /play answered 503 (every conversion place busy) or the conversion failed: the original
    // file is played instead, and the page says so.
    state.mode = "original";
    var seekRow = document.querySelector(".seek-row");
    if (seekRow) { seekRow.hidden = true; }
    document.querySelectorAll(".remux-note").forEach(function (note) { note.hidden = true; });
    show(".fallback-note");
    retimeSubtitles();
    video.src = streamUrl;
    video.load();
  }

  function playFrom(seconds, audio) {
    var wasPlaying = !video.paused;
    fetch(startUrl + "?t=" + seconds.toFixed(3), {credentials: "same-origin"}).then(function (answer) {
      if (!answer.ok) { throw new Error("no start time: " + answer.status); }
      return answer.json();
    }).then(function (found) {
      state.mode = "remux";
      state.offset = found.start;
      state.audio = audio;
      var seekRow = document.querySelector(".seek-row");
      if (seekRow) { seekRow.hidden = false; }
      retimeSubtitles();
      video.src = playUrl + "?t=" + found.start + "&audio=" + audio;
      video.load();
      if (wasPlaying) { video.play().catch(function () {}); }
    }).catch(fallBack);
  }

  video.addEventListener("error", function () {
    if (state.mode === "remux") {
      fallBack();
    } else {
      show(".failed-note");
      document.querySelectorAll(".fallback-note").forEach(function (note) { note.hidden = true; });
    }
  });

  video.addEventListener("timeupdate", function () {
    if (seek && !state.dragging && state.mode === "remux") { seek.value = position(); }
    if (clock) { clock.textContent = clockText(position()) + (state.duration ? " / " + clockText(state.duration) : ""); }
  });

  if (seek) {
    seek.addEventListener("input", function () { state.dragging = true; });
    seek.addEventListener("change", function () {
      state.dragging = false;
      playFrom(parseFloat(seek.value), state.audio);
    });
  }
  if (choice) {
    choice.addEventListener("change", function () {
      // A new audio track is a new conversion, from where the video is now.
      playFrom(position(), parseInt(choice.value, 10));
    });
  }
  // For tests and for people driving the page from the console: where the video is.
  video.filestream = {position: position, state: state, playFrom: playFrom};
}

document.addEventListener("DOMContentLoaded", function () {
  setUpCopyButtons();
  setUpCover();
  setUpVideo();
});
