/* zhizhi 智治 — the wall's launcher (/wall): links to the three screens of the wall named in the
 * box (?wall=NAME fills it). */

const input = document.getElementById("zw-launch-wall");
const asked = new URLSearchParams(location.search).get("wall");
if (asked) input.value = asked;

function update() {
  const wall = (input.value || "main").trim() || "main";
  for (const a of document.querySelectorAll(".zw-launch-links a")) {
    a.href = `/wall?screen=${a.dataset.screen}&wall=${encodeURIComponent(wall)}`;
  }
}

input.addEventListener("input", update);
document.getElementById("zw-launch-form").addEventListener("submit", (e) => e.preventDefault());
update();
