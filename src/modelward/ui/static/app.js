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
      { ...layoutBase, title: { text: `params against ${key}` } }, config);
  };
  if (metricChoice) { metricChoice.addEventListener("change", drawOverlay); drawOverlay(); }
  if (parMetric) { parMetric.addEventListener("change", drawParcoords); drawParcoords(); }
}

window.addEventListener("DOMContentLoaded", () => whenPlotly(() => { drawRunCharts(); drawCompare(); }));
