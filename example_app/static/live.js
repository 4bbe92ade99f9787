// Live updates for the Huggy inbox, by polling.
//
// Every page marks the part that changes with [data-live] and carries, in
// data-cursor, the id of the newest event it was rendered with. Every
// data-poll-ms milliseconds this script asks the server for the newest event
// id (GET /updates?after=<cursor>, one small JSON). When a newer event exists,
// it fetches the same page again and swaps the [data-live] part in place:
// the HTML comes from the same templates as on first load, so there is no
// rendering code here. Rows and messages newer than the old cursor get the
// class "fresh" for a moment. Polling pauses while the tab is hidden.
(function () {
  "use strict";

  var region = document.querySelector("[data-live]");
  var indicator = document.getElementById("live-indicator");
  var body = document.body;
  if (!region || !window.fetch || !window.DOMParser) {
    return;
  }
  var interval = Math.max(500, Number(body.dataset.pollMs) || 1500);
  var updatesUrl = body.dataset.updatesUrl;
  var cursor = Number(region.dataset.cursor) || 0;
  var demoRunning = false;
  var busy = false;

  function setState(state, title) {
    if (indicator) {
      indicator.dataset.state = state;
      if (title) {
        indicator.title = title;
      }
    }
  }

  function openDetails() {
    var open = [];
    region.querySelectorAll("details[open][id]").forEach(function (el) {
      open.push(el.id);
    });
    return open;
  }

  function swap(html, previousCursor) {
    var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("[data-live]");
    if (!fresh) {
      return;
    }
    var keepOpen = openDetails();
    region.replaceChildren.apply(region, Array.prototype.slice.call(fresh.childNodes));
    region.dataset.cursor = fresh.dataset.cursor;
    keepOpen.forEach(function (id) {
      var el = document.getElementById(id);
      if (el) {
        el.open = true;
      }
    });
    region.querySelectorAll("[data-event-id]").forEach(function (el) {
      if (Number(el.dataset.eventId) > previousCursor) {
        el.classList.add("fresh");
      }
    });
    var button = document.getElementById("try-demo");
    if (button) {
      button.disabled = demoRunning;
    }
  }

  function tick() {
    if (document.hidden || busy) {
      return;
    }
    busy = true;
    fetch(updatesUrl + "?after=" + cursor, { cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (update) {
        setState("live", "Live: checking for new events every " + interval / 1000 + " s");
        var demoChanged = update.demo_running !== demoRunning;
        demoRunning = update.demo_running;
        if (update.last_event_id === cursor && !demoChanged) {
          return null;
        }
        var previous = cursor;
        return fetch(window.location.href, { cache: "no-store" })
          .then(function (response) {
            return response.text();
          })
          .then(function (html) {
            swap(html, previous);
            cursor = Number(region.dataset.cursor) || update.last_event_id;
          });
      })
      .catch(function (error) {
        setState("offline", "Cannot reach the inbox (" + error.message + "); retrying");
      })
      .then(function () {
        busy = false;
      });
  }

  setState("live");
  window.setInterval(tick, interval);
  document.addEventListener("visibilitychange", tick);
})();
