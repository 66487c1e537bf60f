// Click a header of a table.sortable to sort its rows; numbers sort as numbers.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.classList.add("sortable");
    header.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var ascending = header.dataset.order !== "asc";
      header.dataset.order = ascending ? "asc" : "desc";
      rows.sort(function (a, b) {
        var x = a.cells[column].innerText, y = b.cells[column].innerText;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
// A page marked data-refresh reloads itself while its test is in progress, but
// never under someone typing: an edited or focused field postpones the reload.
var refresh = document.body.dataset.refresh, edited = false;
document.addEventListener("input", function () { edited = true; });
function reloadWhenIdle() {
  var active = document.activeElement;
  var typing = active && ["INPUT", "SELECT", "TEXTAREA"].indexOf(active.tagName) >= 0;
  if (edited || typing) { setTimeout(reloadWhenIdle, 5000); } else { location.reload(); }
}
if (refresh) { setTimeout(reloadWhenIdle, parseInt(refresh, 10) * 1000); }
