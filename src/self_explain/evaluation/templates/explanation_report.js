// Filters the report's rows: each select keeps the rows whose data attribute equals its value ("" keeps all).
// The URL fragment presets them, e.g. report.html#split=test&verdict=wrong.
(function () {
  "use strict";
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var rows = Array.prototype.slice.call(document.querySelectorAll("article.row"));
  var shown = document.getElementById("shown");
  var empty = document.getElementById("no-rows");

  function apply() {
    var wanted = {};
    selects.forEach(function (select) {
      if (select.value) { wanted[select.dataset.filter] = select.value; }
    });
    var count = 0;
    rows.forEach(function (row) {
      var keep = Object.keys(wanted).every(function (key) { return row.dataset[key] === wanted[key]; });
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    if (shown) { shown.textContent = String(count); }
    if (empty) { empty.hidden = count > 0 || rows.length === 0; }
    document.body.setAttribute("data-shown-rows", String(count));
  }

  function presetFromFragment() {
    var fragment = window.location.hash.replace(/^#/, "");
    if (!fragment) { return; }
    fragment.split("&").forEach(function (pair) {
      var parts = pair.split("=");
      var key = decodeURIComponent(parts[0] || "");
      var value = decodeURIComponent(parts.slice(1).join("=") || "");
      selects.forEach(function (select) {
        var known = Array.prototype.some.call(select.options, function (option) { return option.value === value; });
        if (select.dataset.filter === key && known) { select.value = value; }
      });
    });
  }

  selects.forEach(function (select) { select.addEventListener("change", apply); });
  presetFromFragment();
  apply();
}());
