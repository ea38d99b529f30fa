// Small progressive enhancements; every page works without them.
(function () {
  "use strict";
  var root = document.documentElement;

  // Theme: "system" follows the OS; the toggle cycles light -> dark -> system and
  // persists the choice in a cookie so the server renders the right theme first.
  var order = ["light", "dark", "system"];
  function setTheme(theme) {
    root.setAttribute("data-theme", theme);
    document.cookie = "theme=" + theme + "; path=/; max-age=31536000; samesite=lax";
    try { localStorage.setItem("theme", theme); } catch (e) { /* storage may be disabled */ }
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-theme-toggle]");
    if (toggle) {
      var current = root.getAttribute("data-theme") || "system";
      setTheme(order[(order.indexOf(current) + 1) % order.length]);
    }
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var target = document.getElementById(copy.getAttribute("data-copy"));
      if (target && navigator.clipboard) {
        navigator.clipboard.writeText(target.textContent.trim()).then(function () {
          copy.textContent = "Copied";
        });
      }
    }
    var confirmButton = event.target.closest("[data-confirm]");
    if (confirmButton && !window.confirm(confirmButton.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) { event.target.form.submit(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".js-hide").forEach(function (el) { el.hidden = true; });
  });
})();

// API keys list: a "select all" box for the bulk actions (hidden without JavaScript).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      var name = box.getAttribute("data-select-all");
      var boxes = box.form ? box.form.querySelectorAll('input[type=checkbox][name="' + name + '"]') : [];
      box.hidden = boxes.length === 0;
      box.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = box.checked; });
      });
    });
  });
})();
