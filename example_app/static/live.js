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
//
// It also keeps the pages' promises that need a browser: every <time> reads
// in the viewer's own time zone (told to the server in a cookie, so pages
// come rendered in it), and banners go away when dismissed or when their
// data-expires-at (epoch ms) passes, and stay away across live updates.
(function () {
  "use strict";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var dismissed = {};

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // The same shape as the server's (views.clock): "5 Mar 2020, 17:21:10", local time.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) {
        return;
      }
      var text = at.getDate() + " " + MONTHS[at.getMonth()] + " " + at.getFullYear() + ", " +
        two(at.getHours()) + ":" + two(at.getMinutes());
      el.textContent = el.dataset.style === "minutes" ? text : text + ":" + two(at.getSeconds());
    });
  }

  function tellZone() {
    var zone = window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone;
    var cookie = document.body.dataset.zoneCookie;
    if (zone && cookie) {
      // Pages come rendered in it from the next one on; on a first visit the
      // times are rewritten here, and the charts say which zone they use.
      document.cookie = cookie + "=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
      var shown = document.getElementById("viewer-zone");
      if (shown) {
        shown.textContent = zone;
      }
    }
  }

  function remember(key) {
    dismissed[key] = true;
    try {
      window.sessionStorage.setItem("inbox-dismissed-" + key, "1");
    } catch (e) { /* storage off: this page still remembers */ }
  }

  function isDismissed(key) {
    try {
      return dismissed[key] || window.sessionStorage.getItem("inbox-dismissed-" + key) === "1";
    } catch (e) {
      return Boolean(dismissed[key]);
    }
  }

  function applyBanners() {
    var now = Date.now();
    document.querySelectorAll("[data-banner]").forEach(function (el) {
      var expires = Number(el.dataset.expiresAt) || 0;
      if (isDismissed(el.dataset.banner) || (expires && expires <= now)) {
        el.remove();
      } else if (expires) {
        window.setTimeout(applyBanners, expires - now + 50);
      }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-banner] .dismiss");
    if (button) {
      var banner = button.closest("[data-banner]");
      remember(banner.dataset.banner);
      banner.remove();
    }
  });
  // A form marked data-submit-once (a chat's reply and close) is sent once: its
  // button is off until the next page. The server acts once per form anyway.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.hasAttribute && form.hasAttribute("data-submit-once")) {
      if (form.dataset.sent) {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (button) {
          button.disabled = true;
        });
      }, 0);
    }
  });
  // The newest bars are on the right: a chart that scrolls inside its card starts there.
  function showNewest(root) {
    root.querySelectorAll(".chart-scroll").forEach(function (el) {
      el.scrollLeft = el.scrollWidth;
    });
  }

  tellZone();
  localTimes(document);
  showNewest(document);
  applyBanners();

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
    localTimes(region);
    showNewest(region);
    applyBanners();
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
    // From the origin: a page opened as http://user:password@host/ (INBOX_PASSWORD) resolves
    // relative URLs with the credentials in them, and fetch() refuses those.
    fetch(window.location.origin + updatesUrl + "?after=" + cursor, { cache: "no-store", headers: { Accept: "application/json" } })
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
        return fetch(window.location.origin + window.location.pathname + window.location.search, { cache: "no-store" })
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
