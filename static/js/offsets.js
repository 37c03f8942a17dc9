// Offsets: the server counts Unicode code points (Python str indexes); the browser's strings count UTF-16 code
// units. Every conversion between the two goes through these functions (tested in tests/test_coding_page.py).
(function (global) {
  "use strict";

  // Number of code points in the first `utf16Index` UTF-16 units of `text`. An index that falls between the two
  // halves of a surrogate pair counts the whole character (it cannot be split).
  function utf16ToCodePoints(text, utf16Index) {
    var count = 0;
    var i = 0;
    var limit = Math.min(utf16Index, text.length);
    while (i < limit) {
      var unit = text.charCodeAt(i);
      i += (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) ? 2 : 1;
      count += 1;
    }
    return count;
  }

  // The UTF-16 index of code point number `codePoints` in `text` (clamped to the end of the text).
  function codePointsToUtf16(text, codePoints) {
    var i = 0;
    var seen = 0;
    while (i < text.length && seen < codePoints) {
      var unit = text.charCodeAt(i);
      i += (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) ? 2 : 1;
      seen += 1;
    }
    return i;
  }

  function codePointLength(text) {
    return utf16ToCodePoints(text, text.length);
  }

  global.WorkbenchOffsets = {
    utf16ToCodePoints: utf16ToCodePoints,
    codePointsToUtf16: codePointsToUtf16,
    codePointLength: codePointLength,
  };
})(window);
