/* The study session page, live: the Teacher's replies and the Evaluator's assessment
 * appear without a reload. Plain JavaScript, no framework; the page works without it
 * (a reload shows what is new).
 *
 * - A message is sent with fetch instead of a page load; the page then asks
 *   GET /study_sessions/<id>/messages?after=<last id> (app/session_updates.py) for the
 *   messages after the last one shown, and adds them.
 * - While the student's message is the last one (a reply is due), it asks after 0.25 s,
 *   then more slowly up to every second for a minute, then less and less often (up to
 *   every 15 s); otherwise every 15 s while the session runs, and not at all once it is
 *   over and nothing is due.
 * - A completed session without its evaluation asks GET /study_sessions/<id>/evaluation
 *   the same way until the evaluation is there, and shows it.
 * - Nothing is asked while the tab is hidden; a 4xx answer (signed out, the session
 *   gone) stops asking. Text is set as text, never as HTML.
 */
(function () {
  "use strict";

  var FIRST_MS = 250; // first ask after something became due (a reply takes ~0.1 s)
  var FAST_MS = 1000; // ... growing to this while it is due
  var PATIENT_MS = 60000; // ... for this long, then the interval doubles
  var SLOW_MS = 15000; // the longest interval

  function Stop() {}

  function getJSON(url) {
    return fetch(url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.status >= 400 && response.status < 500) throw new Stop();
      if (response.redirected || type.indexOf("application/json") !== 0) throw new Stop();
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    });
  }

  /* Runs step() again and again. step() resolves to "now" (ask again at once), "due"
   * (something is awaited: ask soon), "idle" (ask now and then) or "stop". */
  function repeat(step) {
    var timer = null;
    var running = false;
    var again = false; // asked for while a request was out: ask once more at once
    var dueSince = null;
    var delay = FAST_MS;

    function next(state) {
      if (state === "stop") return;
      if (state === "now") {
        delay = 0;
      } else if (state === "due") {
        var now = Date.now();
        if (dueSince === null) {
          dueSince = now;
          delay = FIRST_MS;
        } else if (now - dueSince < PATIENT_MS) {
          delay = Math.min(FAST_MS, Math.max(delay, FIRST_MS) * 1.5);
        } else {
          delay = Math.min(SLOW_MS, delay * 2);
        }
      } else {
        dueSince = null;
        delay = SLOW_MS;
      }
      timer = window.setTimeout(run, delay);
    }

    function run() {
      timer = null;
      if (running) return;
      if (document.hidden) return; // resumed by visibilitychange
      running = true;
      step().then(
        function (state) {
          running = false;
          next(again && state !== "stop" ? "now" : state);
          again = false;
        },
        function (error) {
          running = false;
          again = false;
          if (!(error instanceof Stop)) next("idle"); // a server restart: try later
        }
      );
    }

    function now() {
      if (timer !== null) window.clearTimeout(timer);
      timer = null;
      dueSince = null;
      if (running) again = true;
      else run();
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null && !running) run();
    });
    return now;
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function watchMessages(log) {
    var url = log.getAttribute("data-poll");
    var after = log.getAttribute("data-after") || "0";
    var shown = log.querySelectorAll(".message");
    var last = shown.length ? shown[shown.length - 1] : null;
    var lastRole = last && last.classList.contains("student") ? "student" : "other";

    function add(message) {
      var empty = log.querySelector(".empty");
      if (empty) empty.remove();
      var box = element("div", "message " + message.role);
      box.appendChild(element("span", "muted", message.author));
      box.appendChild(element("p", null, message.content));
      log.appendChild(box);
      after = String(message.id);
      lastRole = message.role;
    }

    return repeat(function () {
      return getJSON(url + "?after=" + encodeURIComponent(after)).then(function (data) {
        data.messages.forEach(add);
        if (data.more) return "now";
        if (lastRole === "student") return "due";
        return data.status === "active" ? "idle" : "stop";
      });
    });
  }

  function watchEvaluation(box) {
    var url = box.getAttribute("data-poll");
    return repeat(function () {
      return getJSON(url).then(function (data) {
        if (data.evaluation) {
          var card = element("section", "card");
          card.appendChild(element("h2", null, "Evaluation: " + data.evaluation.score + "/100"));
          card.appendChild(element("p", null, data.evaluation.feedback));
          box.replaceChildren(card);
          return "stop";
        }
        return data.status === "completed" ? "due" : "stop";
      });
    });
  }

  function showError(text) {
    var main = document.getElementById("content");
    var old = main.querySelector(".flash.live");
    if (old) old.remove();
    var flash = element("p", "flash error live", text);
    flash.setAttribute("role", "alert");
    main.insertBefore(flash, main.firstChild);
  }

  /* The message form, sent with fetch: the page stays, the poll shows the message and
   * then the reply. The app answers a POST with a redirect to the page, with the
   * error (an ended session, an empty message) flashed on it: shown here. */
  function sendInPlace(form, pollNow) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error("HTTP " + response.status);
          if (new URL(response.url).pathname !== window.location.pathname) {
            window.location.assign(response.url); // signed out meanwhile: the login page
            return null;
          }
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          var page = new DOMParser().parseFromString(html, "text/html");
          var error = page.querySelector(".flash.error");
          if (error) {
            showError(error.textContent);
          } else {
            var old = document.querySelector(".flash.live");
            if (old) old.remove();
            form.reset();
          }
          pollNow();
        })
        .catch(function () {
          showError("Your message could not be sent. Check your connection and try again.");
        })
        .then(function () {
          button.disabled = false;
          var field = form.querySelector("textarea");
          if (field) field.focus(); // the disabled button lost it: ready for the next one
        });
    });
  }

  if (!window.fetch || !window.FormData || !window.DOMParser) return;
  var log = document.querySelector(".messages[data-poll]");
  if (log) {
    var pollNow = watchMessages(log);
    var form = document.querySelector("form.send-message");
    if (form) sendInPlace(form, pollNow);
    pollNow();
  }
  var evaluation = document.querySelector("#evaluation[data-poll]");
  if (evaluation) watchEvaluation(evaluation)();
})();
