// The monitoring dashboard: one chart per figure, one trace per version (colour = version), alert
// moves as vertical lines on every time axis; a click on a point opens that version's page.
"use strict";

(function () {
  const node = document.getElementById("monitoring-data");
  if (!node) return;
  const data = JSON.parse(node.textContent);
  // plotly reads a few HTML tags in its labels (<a href>, <b>, <br>): names from logged data stay text.
  const plain = text => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const config = { responsive: true, displaylogo: false };
  const base = { margin: { t: 36, r: 16, b: 44, l: 60 }, font: { size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff",
    hovermode: "closest", legend: { orientation: "h", y: -0.18 } };
  const moveColor = { firing: "#b3261e", resolved: "#1e7b34" };
  const versionInfo = Object.fromEntries(data.versions.map(v => [v.version, v]));
  const timeAxis = { type: "date", range: [data.since, data.until] };  // UTC, as the page says

  // Alert moves: a vertical line per move, with a hoverable label at the top of the chart.
  const alertShapes = data.alerts.map(m => ({
    type: "line", xref: "x", yref: "paper", x0: m.at, x1: m.at, y0: 0, y1: 1,
    line: { color: moveColor[m.state], width: 1.5, dash: "dot" },
  }));
  const alertNotes = data.alerts.map(m => ({
    x: m.at, xref: "x", y: 1, yref: "paper", yanchor: "bottom", showarrow: false, text: m.state === "firing" ? "▼" : "▽",
    font: { color: moveColor[m.state], size: 12 },
    hovertext: `${plain(m.rule)} ${m.state} at ${m.at}` + (m.value !== null ? `: ${plain(m.metric)} ${m.value.toPrecision(3)}` : "") +
      (m.version !== null ? ` (v${m.version})` : ""),
  }));

  function layout(title, yTitle, extra) {
    return { ...base, title: { text: title }, xaxis: timeAxis, yaxis: { title: { text: yTitle }, rangemode: "tozero" },
      shapes: alertShapes, annotations: alertNotes, ...(extra || {}) };
  }

  function trace(series, values, name, dash, extra) {
    const info = versionInfo[series.version] || {};
    return { type: "scatter", mode: "lines+markers", x: series.x, y: values, name,
      line: { color: series.color, dash: dash || "solid", width: 2 }, marker: { size: 5, color: series.color },
      customdata: series.x.map(() => info.href || ""), legendgroup: `v${series.version}`, ...(extra || {}) };
  }

  function plot(id, traces, chartLayout) {
    const div = document.getElementById(id);
    if (!div) return;
    Plotly.react(div, traces, chartLayout, config);
    if (!div.dataset.linked) {
      div.dataset.linked = "yes";
      div.on("plotly_click", event => {
        const point = event.points && event.points[0];
        if (point && point.customdata) window.location.assign(point.customdata);
      });
    }
  }

  function qualityTraces(metric, seriesList, realisedDash, estimatedDash) {
    const traces = [];
    for (const s of seriesList) {
      const realised = s.quality[metric] || [];
      const estimated = s.estimated[metric] || [];
      const tag = s.mode === "shadow" ? " shadow" : "";
      if (realised.some(v => v !== null)) traces.push(trace(s, realised, `v${s.version}${tag} ${metric}`, realisedDash));
      if (estimatedDash && estimated.some(v => v !== null)) {
        traces.push(trace(s, estimated, `v${s.version}${tag} ${metric} (estimated)`, estimatedDash));
      }
    }
    return traces;
  }

  function drawQuality() {
    const choice = document.getElementById("quality-metric");
    if (!choice) return;
    const metric = choice.value;
    plot("chart-quality", qualityTraces(metric, data.live, "solid", "dash"),
      layout(`Quality: ${metric}`, metric, { yaxis: { title: { text: metric } } }));
    if (data.shadow.length) {
      // Realised where there is ground truth, else the estimate: the comparison a shadow needs.
      const best = s => ({ ...s, quality: { [metric]: (s.quality[metric] || []).some(v => v !== null)
        ? s.quality[metric] : (s.estimated[metric] || []) } });
      const traces = [...data.live.map(s => qualityTraces(metric, [best(s)], "solid", null)),
        ...data.shadow.map(s => qualityTraces(metric, [best(s)], "dot", null))].flat();
      plot("chart-shadow-quality", traces, layout(`Live vs shadow: ${metric}`, metric, { yaxis: { title: { text: metric } } }));
    }
  }

  function drawTraffic() {
    const latency = data.live.flatMap(s => [
      trace(s, s.p50, `v${s.version} p50`, "dot"), trace(s, s.p95, `v${s.version} p95`, "solid"),
      trace(s, s.p99, `v${s.version} p99`, "dash"),
    ]);
    plot("chart-latency", latency, layout("Latency", "ms"));
    plot("chart-throughput", data.live.map(s => trace(s, s.requests_per_s, `v${s.version}`)),
      layout("Throughput", "requests/s"));
    plot("chart-errors", data.live.map(s => trace(s, s.error_rate, `v${s.version}`)),
      layout("Error rate", "share of requests", { yaxis: { title: { text: "share of requests" }, tickformat: ".0%", rangemode: "tozero" } }));
    if (data.shadow.length) {
      const traces = [...data.live.map(s => trace(s, s.p95, `v${s.version} live p95`, "solid")),
        ...data.shadow.map(s => trace(s, s.p95, `v${s.version} shadow p95`, "dot"))];
      plot("chart-shadow-latency", traces, layout("Live vs shadow: p95 latency", "ms"));
    }
  }

  function drawDrift() {
    const drift = data.drift;
    if (!document.getElementById("chart-drift") || !drift.features.length) return;
    const features = drift.features.map(plain);
    const hover = features.map((f, row) => drift.x.map((x, col) => {
      const value = drift.z[row][col];
      const none = drift.rows[col] === 0 ? "no traffic" : `too few rows (under ${drift.min_rows})`;
      return `${f} from ${drift.starts[col]}<br>${drift.test} ${value === null ? none : value.toFixed(3)}` +
        (drift.drifted[row][col] ? " (drifted)" : "") + `<br>${drift.rows[col]} rows`;
    }));
    const marked = { x: [], y: [] };
    features.forEach((f, row) => drift.x.forEach((x, col) => {
      if (drift.drifted[row][col]) { marked.x.push(x); marked.y.push(f); }
    }));
    const traces = [
      { type: "heatmap", x: drift.edges, y: features, z: drift.z, colorscale: "YlOrRd", reversescale: true, zmin: 0, zmax: 0.5,  // past 0.5 every PSI reads as "much"
        colorbar: { title: { text: drift.test.toUpperCase() }, ticksuffix: " " }, xgap: 1, ygap: 1, hovertext: hover, hoverinfo: "text", name: drift.test },
      { type: "scatter", mode: "markers", x: marked.x, y: marked.y, name: "drifted", hoverinfo: "skip",
        marker: { symbol: "x", size: 12, color: "#fff", line: { width: 1.5, color: "#1d2430" } }, showlegend: marked.x.length > 0 },
    ];
    const height = Math.max(260, 90 + 28 * drift.features.length);
    Plotly.react("chart-drift", traces, { ...base, height, title: { text: "Input drift per feature" },
      xaxis: timeAxis, yaxis: { automargin: true, type: "category", autorange: "reversed" }, shapes: alertShapes, annotations: alertNotes }, config);
  }

  function drawKpis() {
    for (const div of document.querySelectorAll(".kpi-chart")) {
      const name = div.dataset.kpi;
      const traces = (data.kpis[name] || []).map(s => trace(s, s.mean,
        s.version === null ? "endpoint" : `v${s.version}`, "solid",
        s.version === null ? { customdata: s.x.map(() => "") } : {}));
      plot(div.id || (div.id = `kpi-${name}`), traces,
        layout(plain(name), "mean per window", { yaxis: { title: { text: plain(name) } } }));
    }
  }

  function draw() {
    drawQuality();
    drawTraffic();
    drawDrift();
    drawKpis();
    const choice = document.getElementById("quality-metric");
    if (choice) choice.addEventListener("change", drawQuality);
  }

  window.addEventListener("DOMContentLoaded", () => {
    if (window.Plotly) { draw(); return; }
    window.addEventListener("load", () => { if (window.Plotly) draw(); });
  });
})();
