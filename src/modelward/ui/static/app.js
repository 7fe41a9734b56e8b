// Light interactivity: charts drawn with plotly.js (served from the installed plotly package).
"use strict";

function readJson(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

function whenPlotly(draw) {
  if (window.Plotly) { draw(); return; }
  window.addEventListener("load", () => { if (window.Plotly) draw(); });
}

const layoutBase = { margin: { t: 36, r: 16, b: 40, l: 56 }, font: { size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
const config = { responsive: true, displaylogo: false };

function drawRunCharts() {
  const box = document.getElementById("metric-charts");
  const histories = readJson("histories");
  if (!box || !histories) return;
  for (const [key, points] of Object.entries(histories)) {
    const div = document.createElement("div");
    div.setAttribute("role", "img");
    div.setAttribute("aria-label", `${key} over steps`);
    box.appendChild(div);
    Plotly.newPlot(div, [{ x: points.map(p => p[0]), y: points.map(p => p[1]), mode: "lines+markers", name: key }],
      { ...layoutBase, title: { text: key }, xaxis: { title: { text: "step" } } }, config);
  }
}

function drawCompare() {
  const data = readJson("compare-data");
  if (!data) return;
  const overlay = document.getElementById("overlay-chart");
  const metricChoice = document.getElementById("metric-choice");
  const drawOverlay = () => {
    const key = metricChoice.value;
    const traces = data.runs.map(run => {
      const points = (data.histories[run.id] || {})[key] || [];
      return { x: points.map(p => p[0]), y: points.map(p => p[1]), mode: "lines+markers", name: run.name };
    });
    Plotly.react(overlay, traces, { ...layoutBase, title: { text: key }, xaxis: { title: { text: "step" } } }, config);
  };
  const parcoords = document.getElementById("parcoords-chart");
  const parMetric = document.getElementById("parcoords-metric");
  const drawParcoords = () => {
    const key = parMetric.value;
    const paramKeys = [...new Set(data.runs.flatMap(r => Object.keys(r.params)))].sort();
    const dimensions = paramKeys.map(p => {
      const raw = data.runs.map(r => r.params[p]);
      const numeric = raw.every(v => v !== undefined && v !== "" && !isNaN(Number(v)));
      if (numeric) return { label: p, values: raw.map(Number) };
      const levels = [...new Set(raw.map(v => v ?? "(none)"))];
      return { label: p, values: raw.map(v => levels.indexOf(v ?? "(none)")), tickvals: levels.map((_, i) => i), ticktext: levels };
    });
    const scores = data.runs.map(r => r.metrics[key] ?? null);
    dimensions.push({ label: key, values: scores });
    Plotly.react(parcoords, [{ type: "parcoords", line: { color: scores, colorscale: "Viridis", showscale: true }, dimensions }],
      { ...layoutBase, margin: { t: 48, r: 32, b: 24, l: 48 } }, config);
  };
  if (metricChoice) { metricChoice.addEventListener("change", drawOverlay); drawOverlay(); }
  if (parMetric) { parMetric.addEventListener("change", drawParcoords); drawParcoords(); }
}

window.addEventListener("DOMContentLoaded", () => whenPlotly(() => { drawRunCharts(); drawCompare(); }));

// -- governance: fairness per group (one grouped bar chart per sensitive feature) --
function drawFairness() {
  const box = document.getElementById("fairness-charts");
  const charts = readJson("fairness-data");
  if (!box || !charts) return;
  for (const [feature, data] of Object.entries(charts)) {
    const div = document.createElement("div");
    div.setAttribute("role", "img");
    div.setAttribute("aria-label", `Rates by group of ${feature}; the table below has the same numbers`);
    box.appendChild(div);
    const traces = Object.entries(data.rates)
      .filter(([, values]) => values.some(v => v !== null && v !== undefined))
      .map(([metric, values]) => ({ type: "bar", name: metric.replaceAll("_", " "), x: data.groups, y: values }));
    Plotly.newPlot(div, traces, { ...layoutBase, barmode: "group", title: { text: `by ${feature}` },
      yaxis: { range: [0, 1], title: { text: "rate" } }, legend: { orientation: "h", y: -0.2 } }, config);
  }
}

// -- governance: the latest explanation's top features, best on top (review page) --
function drawImportance() {
  const div = document.getElementById("importance-chart");
  const data = readJson("importance-data");
  if (!div || !data || !data.features.length) return;
  const trace = { type: "bar", orientation: "h", x: [...data.importance].reverse(), y: [...data.features].reverse(),
    error_x: { type: "data", array: [...data.std].reverse(), visible: true }, marker: { color: "#4a7bd0" } };
  Plotly.newPlot(div, [trace], { ...layoutBase, height: 60 + 24 * data.features.length, margin: { ...layoutBase.margin, l: 140 },
    yaxis: { automargin: true }, xaxis: { title: { text: `drop in ${data.scoring || "score"}` } } }, config);
}

// -- lineage: a layered graph; plotly gives pan and zoom, a click opens the node --
function drawLineage() {
  const div = document.getElementById("lineage-graph");
  const graph = readJson("lineage-data");
  if (!div || !graph) return;
  const edgeX = [], edgeY = [];
  for (const edge of graph.edges) { edgeX.push(edge.from[0], edge.to[0], null); edgeY.push(edge.from[1], edge.to[1], null); }
  const arrows = graph.edges.map(edge => ({
    x: edge.from[0] + (edge.to[0] - edge.from[0]) * 0.8, y: edge.from[1] + (edge.to[1] - edge.from[1]) * 0.8,
    ax: edge.from[0], ay: edge.from[1], xref: "x", yref: "y", axref: "x", ayref: "y",
    showarrow: true, arrowhead: 2, arrowsize: 1.2, arrowwidth: 1, arrowcolor: "#9aa5b1", text: "",
  }));
  const nodes = graph.nodes;
  const traces = [
    { x: edgeX, y: edgeY, mode: "lines", line: { color: "#c3ccd6", width: 1 }, hoverinfo: "skip", showlegend: false },
    { x: nodes.map(n => n.x), y: nodes.map(n => n.y), mode: "markers+text", type: "scatter",
      text: nodes.map(n => n.name), textposition: "bottom center", customdata: nodes.map(n => n.href),
      hovertext: nodes.map(n => n.hover), hoverinfo: "text", showlegend: false,
      marker: { size: nodes.map(n => n.root ? 22 : 16), color: nodes.map(n => n.color),
        symbol: nodes.map(n => n.kind === "execution" ? "square" : "circle"),
        line: { width: nodes.map(n => n.root ? 3 : 1), color: "#1d2430" } } },
  ];
  const layout = { ...layoutBase, dragmode: "pan", hovermode: "closest", annotations: arrows,
    xaxis: { visible: false, zeroline: false }, yaxis: { visible: false, zeroline: false }, height: 520 };
  Plotly.newPlot(div, traces, layout, { ...config, scrollZoom: true });
  div.on("plotly_click", event => {
    const point = event.points && event.points[0];
    if (point && point.customdata) window.location.assign(point.customdata);
  });
}

window.addEventListener("DOMContentLoaded", () => whenPlotly(() => { drawFairness(); drawImportance(); drawLineage(); }));

// -- runs list: collapse a parent's child runs; count the runs ticked for comparison --
function setupRunTree() {
  const table = document.getElementById("runs-table");
  if (!table) return;
  const rows = [...table.querySelectorAll("tbody tr[data-run]")];
  const descendants = id => rows.filter(r => r.dataset.ancestors.split(" ").includes(id));
  const setOpen = (button, open) => {
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "▾" : "▸";
    const hidden = new Set();
    // A row stays hidden while any of its ancestors is collapsed.
    for (const twisty of table.querySelectorAll("button.twisty[aria-expanded=false]")) {
      for (const row of descendants(twisty.dataset.toggle)) hidden.add(row);
    }
    for (const row of rows) row.hidden = hidden.has(row);
  };
  for (const button of table.querySelectorAll("button.twisty")) {
    button.addEventListener("click", () => setOpen(button, button.getAttribute("aria-expanded") !== "true"));
  }
  const all = open => () => { for (const b of table.querySelectorAll("button.twisty")) setOpen(b, open); };
  const collapse = document.getElementById("collapse-all");
  const expand = document.getElementById("expand-all");
  if (collapse) collapse.addEventListener("click", all(false));
  if (expand) expand.addEventListener("click", all(true));
  const count = document.getElementById("selected-count");
  const update = () => {
    const ticked = table.querySelectorAll("input[name=run]:checked").length;
    count.textContent = ticked ? `${ticked} run${ticked === 1 ? "" : "s"} selected` : "Tick two or more runs to compare them.";
  };
  table.addEventListener("change", update);
}

window.addEventListener("DOMContentLoaded", setupRunTree);

// The mlflow client prints links into MLflow's UI, such as http://HOST/#/experiments/1/runs/abc.
// The fragment never reaches the server, which sends "/" on to "/ui/"; the browser keeps the
// fragment, and here it is turned into the same page of this UI.
const MLFLOW_LINKS = [
  [/^#\/experiments\/([^/?#]+)\/runs\/([^/?#]+)\/?$/, (_, run) => `/ui/runs/${run}`],
  [/^#\/experiments\/([^/?#]+)\/?$/, experiment => `/ui/experiments/${experiment}`],
  [/^#\/models\/([^/?#]+)\/versions\/([^/?#]+)\/?$/, (model, version) => `/ui/models/${model}/versions/${version}`],
  [/^#\/models\/([^/?#]+)\/?$/, model => `/ui/models/${model}`],
];

function followMlflowLink() {
  for (const [pattern, target] of MLFLOW_LINKS) {
    const match = pattern.exec(window.location.hash);
    if (match) {
      const parts = match.slice(1).map(part => encodeURIComponent(decodeURIComponent(part)));
      window.location.replace(target(...parts));
      return;
    }
  }
}

followMlflowLink();
