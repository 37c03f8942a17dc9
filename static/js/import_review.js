// Import review: selecting text in a raw transcript fills the "add a replacement" form with the selection.
(function () {
  "use strict";
  var original = document.getElementById("add-original");
  var pseudonym = document.getElementById("add-pseudonym");
  if (!original) { return; }
  document.querySelectorAll(".raw-text").forEach(function (block) {
    block.addEventListener("mouseup", function () {
      var selection = window.getSelection();
      var text = selection ? selection.toString().replace(/\s+/g, " ").trim() : "";
      if (text && text.length <= 200 && block.contains(selection.anchorNode)) {
        original.value = text;
        pseudonym.focus();
      }
    });
  });
})();
