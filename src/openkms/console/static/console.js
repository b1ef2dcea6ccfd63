// openkms console: progressive enhancement only; every flow works without this file.
// Forms marked data-confirm ask before they submit (scheduling a key's deletion, deleting a secret).
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
