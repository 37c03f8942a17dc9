// Find in study: the header checkbox ticks or clears every hit.
(function () {
  "use strict";
  var all = document.getElementById("all-hits");
  if (!all) { return; }
  all.addEventListener("change", function () {
    document.querySelectorAll("#hits input[name=hit]").forEach(function (box) { box.checked = all.checked; });
  });
})();
