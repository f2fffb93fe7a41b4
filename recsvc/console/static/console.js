// Draws every <canvas data-chart> from the JSON beside it (no inline script: the page's
// Content-Security-Policy allows scripts from this origin only), and sends the CSRF
// token with every htmx request.
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4b5563"];

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var chart = new Chart(canvas, {
      type: canvas.dataset.kind || "line",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s, i) {
          return {
            label: s.label, data: s.data, spanGaps: true, pointRadius: 0, borderWidth: 2,
            borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length]
          };
        })
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { ticks: { maxTicksLimit: 8, autoSkip: true, maxRotation: 0 } },
          y: { type: canvas.dataset.log ? "logarithmic" : "linear" }
        },
        plugins: { legend: { position: "bottom" } }
      }
    });
    // Points drawn: what the browser tests (and people reading the DOM) can check.
    var points = data.series.reduce(function (n, s) {
      return n + s.data.filter(function (v) { return v !== null; }).length;
    }, 0);
    canvas.dataset.points = String(points);
    canvas.dataset.rendered = chart ? "1" : "0";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  });
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });
})();
