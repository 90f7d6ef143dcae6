// Progressive enhancement only: every form works without this file.
// While Sync Now runs (it can take a while), say so and stop a second click.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (!button || button.id !== "sync-now") return;
  var status = document.getElementById("sync-progress");
  if (status) status.textContent = "Synchronising\u2026 this page updates when it is done.";
  setTimeout(function () { button.disabled = true; }, 0);
  var url = button.getAttribute("data-progress");
  if (!status || !url || !window.fetch) return;
  // Live progress: which folder the sync is at, asked every half second until the page
  // with the result replaces this one.
  var poll = function () {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (state) {
        if (state && state.running && state.folder) {
          status.textContent = "Synchronising " + state.folder + " (" +
            (state.folders_done + 1) + " of " + state.folders_total + ")\u2026";
        }
        setTimeout(poll, 500);
      })
      .catch(function () { setTimeout(poll, 1000); });
  };
  setTimeout(poll, 300);
});
