// assay's web UI: small functions per page. Pages are rendered on the server; this module adds selection,
// live refresh and charts (plotly.js, loaded as a classic script from the installed plotly package).
// Every view keeps its state in the URL, so reloading or sharing a link shows the same thing.

const LIVE_MS = 5000;

function params() { return new URLSearchParams(window.location.search); }

function setParam(name, value, empty) {
  const q = params();
  if (value === empty || value === "" || value === null) q.delete(name); else q.set(name, value);
  const query = q.toString();
  history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

// ---- runs table ------------------------------------------------------------------------------------------

export function initRunsTable() {
  const form = document.getElementById("select-form");
  const button = document.getElementById("compare");
  const count = document.getElementById("selected-count");
  const all = document.getElementById("select-all");
  const table = document.getElementById("runs");
  if (!form) return;
  const boxes = () => [...form.querySelectorAll('tbody input[name="run"]')];
  const update = () => {
    const n = boxes().filter((b) => b.checked).length;
    count.textContent = `${n} selected`;
    button.disabled = n < 2 || n > 50;
    button.title = n < 2 ? "select 2 to 50 runs" : "";
  };
  form.addEventListener("change", (e) => {
    if (e.target === all) boxes().forEach((b) => { b.checked = all.checked; });
    update();
  });
  update();
  if (table && table.dataset.live) {
    // Running runs on the page: refresh the rows (statuses, metrics) in place, keeping the selection.
    const refresh = async () => {
      const url = new URL(window.location.href);
      url.searchParams.set("rows", "1");
      const response = await fetch(url, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const checked = new Set(boxes().filter((b) => b.checked).map((b) => b.value));
      const holder = document.createElement("table");
      holder.innerHTML = await response.text();
      const rows = holder.querySelector("tbody");
      if (!rows) return;
      rows.querySelectorAll('input[name="run"]').forEach((b) => { b.checked = checked.has(b.value); });
      table.querySelector("tbody").replaceWith(rows);
      update();
      if (rows.querySelector(".badge.RUNNING")) setTimeout(refresh, LIVE_MS);
    };
    setTimeout(refresh, LIVE_MS);
  }
}

// ---- one run's charts ------------------------------------------------------------------------------------

function seriesUrl(run, key, points = 1000) {
  return `/api/v1/runs/${encodeURIComponent(run)}/metrics/${encodeURIComponent(key)}/series?max_points=${points}`;
}

function bandTraces(x, s, color) {
  // The min/max of each bucket, drawn as a filled band behind the line where the series was thinned.
  return [
    { x, y: s.min, mode: "lines", line: { width: 0, color }, hoverinfo: "skip", showlegend: false, meta: "band" },
    { x, y: s.max, mode: "lines", line: { width: 0, color }, fill: "tonexty", fillcolor: color + "33",
      hoverinfo: "skip", showlegend: false, meta: "band" },
  ];
}

const LAYOUT = { margin: { l: 50, r: 10, t: 30, b: 40 }, font: { size: 11 }, hovermode: "x unified" };

async function drawRunChart(div) {
  const response = await fetch(seriesUrl(div.dataset.run, div.dataset.key));
  if (!response.ok) return;
  const s = await response.json();
  const traces = s.downsampled ? bandTraces(s.steps, s, "#4477aa") : [];
  traces.push({ x: s.steps, y: s.last, mode: "lines", name: s.key, line: { color: "#4477aa" }, meta: "run" });
  const title = `${s.key}${s.downsampled ? ` (${s.total.toLocaleString()} points, ${s.last.length} shown)` : ""}`;
  Plotly.react(div, traces, { ...LAYOUT, title: { text: title, font: { size: 13 } }, xaxis: { title: "step" } },
    { displaylogo: false, responsive: true });
}

// ---- evaluation plots (assay.evaluate) -----------------------------------------------------------------

const CONFIG = { displaylogo: false, responsive: true };

function chartDiv(holder, kind) {
  const div = document.createElement("div");
  div.className = "chart";
  div.dataset.plot = kind;
  holder.appendChild(div);
  return div;
}

function diagonal(name) {
  return { x: [0, 1], y: [0, 1], mode: "lines", line: { dash: "dot", color: "#999" }, name, hoverinfo: "skip" };
}

const PLOTS = {
  confusion_matrix: (p) => [[{ type: "heatmap", z: p.matrix, x: p.labels, y: p.labels, colorscale: "Blues", reversescale: true,
    text: p.matrix, texttemplate: "%{text}", showscale: false }],
    { title: "confusion matrix", xaxis: { title: "predicted", type: "category" },
      yaxis: { title: "actual", type: "category", autorange: "reversed" } }],
  roc: (p) => [[...p.curves.map((c) => ({ x: c.fpr, y: c.tpr, mode: "lines", name: `${c.label} (AUC ${c.auc.toFixed(3)})` })),
    diagonal("chance")], { title: "ROC", xaxis: { title: "false positive rate" }, yaxis: { title: "true positive rate" } }],
  pr: (p) => [p.curves.map((c) => ({ x: c.recall, y: c.precision, mode: "lines", name: `${c.label} (AP ${c.ap.toFixed(3)})` })),
    { title: "precision-recall", xaxis: { title: "recall" }, yaxis: { title: "precision" } }],
  calibration: (p) => [[{ x: p.predicted, y: p.observed, mode: "lines+markers", name: "model" }, diagonal("perfect")],
    { title: "calibration", xaxis: { title: "mean predicted probability" }, yaxis: { title: "fraction of positives" } }],
  predicted_vs_actual: (p) => {
    const lo = Math.min(...p.actual), hi = Math.max(...p.actual);
    return [[{ x: p.actual, y: p.predicted, mode: "markers", marker: { size: 4, opacity: 0.6 }, name: "samples" },
      { x: [lo, hi], y: [lo, hi], mode: "lines", line: { dash: "dot", color: "#999" }, name: "ideal" }],
      { title: "predicted vs actual", xaxis: { title: "actual" }, yaxis: { title: "predicted" } }];
  },
  residuals: (p) => [[{ x: p.predicted, y: p.residual, mode: "markers", marker: { size: 4, opacity: 0.6 } }],
    { title: "residuals", xaxis: { title: "predicted" }, yaxis: { title: "actual - predicted", zeroline: true } }],
  error_histogram: (p) => [[{ type: "bar", x: p.edges.slice(0, -1).map((e, i) => (e + p.edges[i + 1]) / 2), y: p.counts }],
    { title: "error histogram", xaxis: { title: "actual - predicted" }, yaxis: { title: "count" }, bargap: 0.02 }],
  feature_importance: (p) => [[{ type: "bar", orientation: "h", x: p.values.slice(0, 20).reverse(),
    y: p.features.slice(0, 20).reverse() }], { title: "feature importance", margin: { l: 160 } }],
  coefficients: (p) => [[{ type: "bar", orientation: "h", x: p.values.slice(0, 20).reverse(),
    y: p.features.slice(0, 20).reverse() }], { title: "coefficients", margin: { l: 160 } }],
};

function drawEvaluations() {
  const holder = document.getElementById("evaluations");
  const data = JSON.parse(document.getElementById("evaluation-data")?.textContent || "{}");
  for (const [name, ev] of Object.entries(data)) {
    const title = document.createElement("h2");
    const scores = Object.entries(ev.metrics).map(([k, v]) => `${k} ${Number(v).toPrecision(4)}`).join(" · ");
    title.textContent = `Evaluation "${name}" (${ev.task}): ${scores}`;
    holder.appendChild(title);
    const grid = document.createElement("div");
    grid.className = "charts";
    grid.dataset.evaluation = name;
    holder.appendChild(grid);
    for (const plot of ev.plots) {
      const draw = PLOTS[plot.kind];
      if (!draw) continue;
      const [traces, layout] = draw(plot);
      Plotly.react(chartDiv(grid, plot.kind), traces, { ...LAYOUT, hovermode: "closest", ...layout,
        title: { text: layout.title, font: { size: 13 } } }, CONFIG);
    }
  }
}

export function initRunCharts(live, runId) {
  drawEvaluations();
  const charts = [...document.querySelectorAll(".chart[data-key]")];
  const drawAll = () => Promise.all(charts.map(drawRunChart));
  drawAll();
  if (live) {
    const timer = setInterval(async () => {
      await drawAll();
      const info = await fetch(`/api/v1/runs/${encodeURIComponent(runId)}/info`);
      if (info.ok) {
        const status = (await info.json()).status;
        const badge = document.getElementById("status");
        badge.className = `badge ${status}`;
        badge.textContent = status.toLowerCase();
        if (status !== "RUNNING") clearInterval(timer);
      }
    }, LIVE_MS);
  }
}

// ---- compare -----------------------------------------------------------------------------------------------

export function smooth(values, weight) {
  // Exponential moving average with debiasing (as TensorBoard's slider), skipping missing values.
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0, n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n += 1;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

function xValues(curve, axis) {
  if (axis === "wall") return curve.timestamps.map((t) => new Date(t));
  if (axis === "relative") return curve.timestamps.map((t) => (t - curve.start) / 1000);
  return curve.steps;
}

export function initCompare() {
  const data = JSON.parse(document.getElementById("compare-data").textContent);
  const byId = Object.fromEntries(data.runs.map((r) => [r.id, r]));
  const controls = document.getElementById("controls");
  const q = params();
  controls.x.value = q.get("x") || "step";
  controls.smooth.value = q.get("smooth") || "0";
  controls.log.checked = q.get("log") === "1";
  const holder = document.getElementById("curves");
  const divs = {};
  for (const key of Object.keys(data.series)) {
    const div = document.createElement("div");
    div.className = "chart";
    div.dataset.key = key;
    holder.appendChild(div);
    divs[key] = div;
  }
  const drawCurves = () => {
    const axis = controls.x.value, weight = Number(controls.smooth.value), log = controls.log.checked;
    document.getElementById("smooth-value").textContent = weight.toFixed(2);
    setParam("x", axis, "step");
    setParam("smooth", weight ? String(weight) : "", "");
    setParam("log", log ? "1" : "", "");
    for (const [key, curves] of Object.entries(data.series)) {
      const traces = [];
      for (const c of curves) {
        const run = byId[c.run], x = xValues(c, axis);
        if (c.downsampled) traces.push(...bandTraces(x, c, run.color));
        traces.push({ x, y: smooth(c.last, weight), mode: c.total > 1 ? "lines" : "markers", name: run.name,
          line: { color: run.color }, marker: { color: run.color }, meta: "run" });
      }
      const xTitle = { step: "step", wall: "wall time", relative: "seconds since start" }[axis];
      Plotly.react(divs[key], traces, { ...LAYOUT, title: { text: key, font: { size: 13 } },
        xaxis: { title: xTitle }, yaxis: { type: log ? "log" : "linear" }, showlegend: false },
        { displaylogo: false, responsive: true });
    }
  };
  controls.addEventListener("input", drawCurves);
  drawCurves();

  // Parallel coordinates over params and metrics that every run has; lines colored by run.
  const dims = data.dimensions.filter((d) => d.values.every((v) => v !== null && Number.isFinite(v)));
  if (dims.length >= 2) {
    Plotly.react("parallel", [{
      type: "parcoords",
      line: { color: data.runs.map((_, i) => i), colorscale: data.runs.map((r, i) =>
        [data.runs.length > 1 ? i / (data.runs.length - 1) : 0, r.color]) },
      dimensions: dims.map((d) => ({ label: d.label, values: d.values })),
    }], { margin: { l: 60, r: 60, t: 40, b: 20 } }, { displaylogo: false, responsive: true });
  } else {
    document.getElementById("parallel").textContent = "Needs two numeric params or metrics shared by every run.";
  }

  // Scatter of any param or metric against any other, one marker per run.
  const sx = document.getElementById("sx"), sy = document.getElementById("sy");
  for (const d of data.dimensions) { sx.add(new Option(d.label, d.label)); sy.add(new Option(d.label, d.label)); }
  const labels = data.dimensions.map((d) => d.label);
  sx.value = q.get("sx") || labels.find((l) => l.startsWith("params.")) || labels[0] || "";
  sy.value = q.get("sy") || labels.find((l) => l.startsWith("metrics.") && l !== sx.value) || labels[1] || "";
  const drawScatter = () => {
    const dx = data.dimensions.find((d) => d.label === sx.value), dy = data.dimensions.find((d) => d.label === sy.value);
    if (!dx || !dy) return;
    setParam("sx", sx.value, ""); setParam("sy", sy.value, "");
    Plotly.react("scatter", data.runs.map((r, i) => ({
      x: [dx.values[i]], y: [dy.values[i]], mode: "markers", name: r.name, marker: { color: r.color, size: 11 },
    })), { ...LAYOUT, hovermode: "closest", xaxis: { title: dx.label }, yaxis: { title: dy.label } },
    { displaylogo: false, responsive: true });
  };
  document.getElementById("scatter-controls").addEventListener("change", drawScatter);
  drawScatter();

  drawEvaluationOverlays(data);

  const only = document.getElementById("only-diff"), table = document.getElementById("diff");
  only.checked = q.get("only") === "diff";
  const applyOnly = () => { table.classList.toggle("only-diff", only.checked); setParam("only", only.checked ? "diff" : "", ""); };
  only.addEventListener("change", applyOnly);
  applyOnly();
}

function drawEvaluationOverlays(data) {
  // ROC and precision-recall of every selected run that logged an evaluation of the same name, overlaid.
  const holder = document.getElementById("evaluation-overlays");
  const names = new Set(Object.values(data.evaluations).flatMap((byName) => Object.keys(byName)));
  for (const name of [...names].sort()) {
    const curves = { roc: [], pr: [] };
    for (const run of data.runs) {
      const ev = (data.evaluations[run.id] || {})[name];
      if (!ev) continue;
      for (const kind of ["roc", "pr"]) {
        const plot = ev.plots.find((p) => p.kind === kind);
        if (!plot || !plot.curves.length) continue;
        const c = plot.curves[0]; // binary: the positive class; multiclass: the first class
        const score = kind === "roc" ? `AUC ${c.auc.toFixed(3)}` : `AP ${c.ap.toFixed(3)}`;
        curves[kind].push({ x: kind === "roc" ? c.fpr : c.recall, y: kind === "roc" ? c.tpr : c.precision,
          mode: "lines", name: `${run.name} (${score})`, line: { color: run.color }, meta: "run" });
      }
    }
    if (!curves.roc.length) continue;
    const title = document.createElement("h2");
    title.textContent = `Evaluation "${name}"`;
    holder.appendChild(title);
    const grid = document.createElement("div");
    grid.className = "charts";
    grid.dataset.evaluation = name;
    holder.appendChild(grid);
    Plotly.react(chartDiv(grid, "roc"), [...curves.roc, diagonal("chance")], { ...LAYOUT, hovermode: "closest",
      title: { text: "ROC", font: { size: 13 } }, xaxis: { title: "false positive rate" },
      yaxis: { title: "true positive rate" } }, CONFIG);
    Plotly.react(chartDiv(grid, "pr"), curves.pr, { ...LAYOUT, hovermode: "closest",
      title: { text: "precision-recall", font: { size: 13 } }, xaxis: { title: "recall" },
      yaxis: { title: "precision" } }, CONFIG);
  }
}

// A model's or a version's performance history: one line per (version, metric) over time, training
// metrics first, then each evaluation on new data.
export function initPerformance() {
  const holder = document.getElementById("performance");
  const data = JSON.parse(document.getElementById("performance-data").textContent);
  if (!holder || !data.series.length) { if (holder) holder.remove(); return; }
  const traces = data.series.map((s) => ({
    x: s.x.map((ms) => new Date(ms)), y: s.y, text: s.text, name: `v${s.version} ${s.key}`,
    mode: "lines+markers", type: "scatter", hovertemplate: "%{text}: %{y}<extra>%{fullData.name}</extra>",
  }));
  Plotly.react(holder, traces, { ...LAYOUT, hovermode: "closest", xaxis: { title: "time" }, yaxis: { title: "value" } },
    { displaylogo: false, responsive: true });
}
