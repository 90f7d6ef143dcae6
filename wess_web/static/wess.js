// Progressive enhancement only: every form works without this file.
// While Sync Now runs (it can take a while), say so and stop a second click.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (!button || button.id !== "sync-now") return;
  var status = document.getElementById("sync-progress");
  if (status) status.textContent = "Synchronising\u2026 this page updates when it is done.";
  setTimeout(function () { button.disabled = true; }, 0);
});
