// The sweep page: the optimization history (each trial's objective in the order trials ended, and the
// best so far) and the parallel coordinates of the searched params against the objective. The server
// sends both ready to draw (assay.ui.sweeps.chart_data).

const LAYOUT = { margin: { l: 60, r: 20, t: 20, b: 45 }, font: { size: 12 } };

export function initSweep() {
  const data = JSON.parse(document.getElementById("sweep-data").textContent);
  if (!data.metric || !window.Plotly) return;
  const h = data.history;
  const colors = h.value.map((v, i) => (v !== null && v === h.best[i] ? "#ee7733" : "#4477aa"));
  Plotly.newPlot("history", [
    { x: h.order, y: h.value, mode: "markers", name: data.metric, marker: { color: colors, size: 8 },
      text: h.trial.map((t) => `trial ${t}`), hovertemplate: "%{text}: %{y}<extra></extra>" },
    { x: h.order, y: h.best, mode: "lines", name: "best so far", line: { shape: "hv", color: "#ee7733" } },
  ], { ...LAYOUT, xaxis: { title: { text: "trials ended" } }, yaxis: { title: { text: data.metric } },
       legend: { orientation: "h", y: 1.12 } }, { displaylogo: false, responsive: true });
  document.getElementById("history").on("plotly_click", (e) => {
    const run = h.run[e.points[0].pointIndex];
    if (run) window.location.href = `/runs/${run}`;
  });
  if (!data.dimensions.length || !data.objective.length) return;
  const better = data.direction === "maximize";
  Plotly.newPlot("parallel", [{
    type: "parcoords",
    line: { color: data.objective, colorscale: "Viridis", reversescale: !better, showscale: true,
            colorbar: { title: { text: data.metric } } },
    dimensions: data.dimensions,
  }], { ...LAYOUT, margin: { l: 60, r: 80, t: 40, b: 20 } }, { displaylogo: false, responsive: true });
}
