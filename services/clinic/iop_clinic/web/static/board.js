// The board's only script: small conveniences over pages that work without it.
// - the site switcher goes as soon as a site is chosen;
// - a make-up request (form[data-inline]) is sent without reloading the page;
// - in a roll call, the minutes box is asked for only for late and left early.
"use strict";
document.documentElement.classList.add("js");

document.addEventListener("change", (event) => {
  const target = event.target;
  if (target.matches("select[data-autosubmit]")) target.form.submit();
  if (target.matches("form[data-roll-call] input[type=radio]")) minutesFor(target.closest("tr"));
});

function minutesFor(row) {
  const checked = row.querySelector("input[type=radio]:checked");
  const minutes = row.querySelector("input.minutes");
  if (!checked || !minutes) return;
  const needed = checked.value === "late" || checked.value === "left_early";
  minutes.required = needed;
  minutes.hidden = !(needed || checked.value === "present");
}

document.querySelectorAll("form[data-roll-call] tbody tr").forEach(minutesFor);

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.matches("form[data-inline]")) return;
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "X-Board-Fetch": "1" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
    const cell = form.parentElement;
    cell.innerHTML = await response.text();
  } catch (error) {
    button.disabled = false;
    button.textContent = "Failed; try again";
  }
});
