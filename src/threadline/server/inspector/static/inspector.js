// The live tail: a page element with data-live follows that URL's server-sent events and
// asks htmx to reload itself (its hx-trigger is "change") each time the thread changes.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-live]").forEach(function (element) {
    var source = new EventSource(element.getAttribute("data-live"));
    source.addEventListener("change", function () {
      htmx.trigger(element, "change");
    });
  });
});
