/* Lumio Help Centre – demo stub. Does nothing useful on purpose. */
(function () {
  "use strict";
  window.helpCentre = {
    init: function () {
      var buttons = document.querySelectorAll(".feedback button");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].addEventListener("click", function () {
          this.parentNode.textContent = "Thanks for your feedback!";
        });
      }
    }
  };
})();
