// threadkeeper console: copy buttons. Everything else works without script.
"use strict";
function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
  }
  return Promise.resolve(fallbackCopy(text));
}
function fallbackCopy(text) {
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
}
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button) { return; }
  copyText(button.dataset.copy).then(function () {
    button.classList.add("copied");
    button.textContent = "Copied";
    setTimeout(function () { button.classList.remove("copied"); button.textContent = "Copy"; }, 1500);
  });
});
