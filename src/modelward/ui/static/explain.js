// Explanations of a version: the stored global explanation as charts, the "compute one" button of
// the empty state, and the what-if page, which asks the REST API (with the session cookie) to
// explain the edited row as it changes and to search counterfactuals of it. Every number shown is
// the API's; an error shows the API's message.
"use strict";

(function () {
  const plain = text => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const config = { responsive: true, displaylogo: false };
  const base = { margin: { t: 36, r: 16, b: 44, l: 60 }, font: { size: 12 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
  const ACCENT = "#1f5fbf", UP = "#b3261e", DOWN = "#1f5fbf";

  function readJson(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function short(value) {
    if (typeof value !== "number") return String(value);
    return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(4)));
  }

  // POST a JSON body; the answer's JSON, or an Error holding the API's message ({error_code, message}).
  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body),
        headers: { "content-type": "application/json", accept: "application/json" } });
    } catch (error) {
      throw new Error(`the server could not be reached (${error.message})`);
    }
    const text = await response.text();
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : null; } catch (_) { parsed = null; }
    if (!response.ok) {
      const message = parsed && typeof parsed.message === "string" ? parsed.message
        : `the server answered ${response.status} ${response.statusText}${text ? ": " + text.slice(0, 300) : ""}`;
      const error = new Error(message);
      error.status = response.status;
      error.code = parsed && parsed.error_code;
      throw error;
    }
    if (parsed === null) throw new Error(`the server answered ${response.status} without a JSON body`);
    return parsed;
  }

  function showError(node, error) {
    if (!node) return;
    node.textContent = error ? `${error.status ? error.status + " " : ""}${error.code ? error.code + ": " : ""}${error.message}` : "";
    node.hidden = !error;
  }

  function bars(id, names, values, extra) {
    const div = document.getElementById(id);
    if (!div) return null;
    const height = Math.max(260, 90 + 24 * names.length);
    const trace = { type: "bar", orientation: "h", x: values, y: names.map(plain), marker: { color: ACCENT },
      hovertemplate: "%{y}: %{x:.4g}<extra></extra>", ...(extra && extra.trace || {}) };
    const layout = { ...base, height, margin: { ...base.margin, l: 12 }, title: { text: (extra && extra.title) || "" },
      xaxis: { title: { text: (extra && extra.xTitle) || "" }, zeroline: true },
      yaxis: { type: "category", autorange: "reversed", automargin: true } };  // the first item on top
    Plotly.react(div, [trace], layout, config);
    div.dataset.draws = String(Number(div.dataset.draws || 0) + 1);
    return div;
  }

  // -- the stored global explanation ------------------------------------------------------------

  function drawGlobal(data) {
    const importance = data.importance;
    bars("chart-importance", importance.map(i => i.feature), importance.map(i => i.importance_mean), {
      title: "Permutation importance", xTitle: `drop in ${data.scoring || "score"}`,
      trace: { error_x: { type: "data", array: importance.map(i => i.importance_std), visible: true, color: "#59667a" } },
    });
    if (data.shap) {
      bars("chart-shap", data.shap.mean_abs.map(i => i.feature), data.shap.mean_abs.map(i => i.value),
        { title: "Mean |SHAP value|", xTitle: data.shap.output || "" });
    }
    data.partial_dependence.forEach((curve, index) => {
      const div = document.getElementById(`chart-pd-${index}`);
      if (!div) return;
      const numeric = curve.grid.every(v => typeof v === "number");
      const trace = numeric
        ? { type: "scatter", mode: "lines+markers", x: curve.grid, y: curve.average, line: { color: ACCENT, width: 2 }, marker: { size: 5 } }
        : { type: "bar", x: curve.grid.map(plain), y: curve.average, marker: { color: ACCENT } };
      Plotly.react(div, [trace], { ...base, height: 260, title: { text: plain(curve.feature) },
        xaxis: { title: { text: plain(curve.feature) }, type: numeric ? "linear" : "category" },
        yaxis: { title: { text: data.output || "average output" } } }, config);
    });
  }

  function setupCompute() {
    const button = document.getElementById("compute-explanation");
    if (!button) return;
    const status = document.getElementById("compute-status");
    const failure = document.getElementById("compute-error");
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "Computing on the evaluation dataset…";
      showError(failure, null);
      try {
        const stored = await post(button.dataset.url, {});
        status.textContent = `Stored as revision ${stored.revision}.`;
        window.location.assign(window.location.pathname);
      } catch (error) {
        status.textContent = "";
        showError(failure, error);
        button.disabled = false;
      }
    });
  }

  // -- what-if ------------------------------------------------------------------------------------

  function setupWhatIf(data) {
    const form = document.getElementById("what-if-form");
    const features = data.start.features;
    const inputs = [...form.querySelectorAll("[data-feature]")];
    const prediction = document.getElementById("prediction");
    const output = document.getElementById("prediction-output");
    const note = document.getElementById("attribution-note");
    const failure = document.getElementById("what-if-error");
    const answer = document.getElementById("answer");
    let asked = 0, timer = null, explained = null;  // explained: the body of the last answered call

    function row() {
      const values = {};
      for (const input of inputs) {
        const feature = features[Number(input.dataset.index)];
        if (feature.kind === "choice") values[feature.name] = feature.choices[Number(input.value)];
        else values[feature.name] = input.value.trim() === "" ? null : Number(input.value);  // the API says what is wrong
      }
      return values;
    }

    async function explain() {
      const body = { inputs: [row()] };
      if (JSON.stringify(body) === explained) return;  // an input's "change" after its "input" events
      const mine = ++asked;
      answer.setAttribute("aria-busy", "true");
      try {
        const found = await post(data.urls.local, body);
        if (mine !== asked) return;  // a later edit is on its way
        explained = JSON.stringify(body);
        const first = found.rows[0];
        prediction.dataset.value = String(first.prediction);
        prediction.textContent = short(first.prediction);
        output.textContent = `(${found.output})`;
        note.textContent = `Base value ${short(found.base_value)} plus the attributions below gives the prediction (${found.method}, against ${found.background_rows} background rows).`;
        const attributions = first.attributions;
        bars("chart-attributions", attributions.map(a => `${a.feature} = ${short(a.value)}`), attributions.map(a => a.attribution), {
          title: "Attributions", xTitle: `contribution to the ${found.output}`,
          trace: { marker: { color: attributions.map(a => a.attribution >= 0 ? UP : DOWN) }, customdata: attributions.map(a => a.feature) },
        });
        showError(failure, null);
      } catch (error) {
        if (mine !== asked) return;
        showError(failure, error);
      } finally {
        if (mine === asked) answer.removeAttribute("aria-busy");
      }
    }

    function soon() {
      clearTimeout(timer);
      timer = setTimeout(explain, 350);
    }

    form.addEventListener("submit", event => { event.preventDefault(); explain(); });
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    document.getElementById("reset-row").addEventListener("click", () => {
      for (const input of inputs) {
        const feature = features[Number(input.dataset.index)];
        const value = data.start.row[feature.name];
        if (feature.kind === "choice") input.value = String(Math.max(0, feature.choices.indexOf(value)));
        else input.value = value === null ? "" : String(value);
      }
      soon();
    });
    setupCounterfactuals(data, row);
    explain();
  }

  function setupCounterfactuals(data, row) {
    const button = document.getElementById("find-counterfactuals");
    const status = document.getElementById("counterfactual-status");
    const failure = document.getElementById("counterfactual-error");
    const table = document.getElementById("counterfactuals-table");
    const body = table.querySelector("tbody");
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = "Searching…";
      showError(failure, null);
      try {
        const found = await post(data.urls.counterfactuals, { inputs: row() });
        body.replaceChildren(...found.counterfactuals.map((c, index) => counterfactualRow(c, index, found)));
        table.hidden = found.counterfactuals.length === 0;
        status.textContent = `${found.counterfactuals.length} found for the prediction ${short(found.original_prediction)} after ${found.evaluations} model calls; changeable: ${found.actionable.join(", ") || "none"}.`;
      } catch (error) {
        status.textContent = "";
        table.hidden = true;
        showError(failure, error);
      } finally {
        button.disabled = false;
      }
    });
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function counterfactualRow(c, index, found) {
    const tr = document.createElement("tr");
    tr.dataset.prediction = String(c.prediction);
    tr.appendChild(cell(String(index + 1)));
    tr.appendChild(cell(c.changes.map(change => `${change.feature}: ${short(change.old)} → ${short(change.new)}`).join("; ")));
    tr.appendChild(cell(short(c.prediction) + (c.probability !== null && c.probability !== undefined ? ` (probability ${short(c.probability)})` : "")));
    tr.appendChild(cell(short(c.distance), "num"));
    // The API returns only counterfactuals it checked by calling the model; a "valid" field, when
    // present, is its own word for it.
    const valid = c.valid === undefined ? true : Boolean(c.valid);
    const mark = cell(valid ? `valid: the model predicts ${short(c.prediction)}, not ${short(found.original_prediction)}` : "not valid");
    mark.className = valid ? "valid" : "invalid";
    tr.appendChild(mark);
    return tr;
  }

  function start() {
    setupCompute();
    const global = readJson("explanation-data");
    const whatIf = readJson("what-if-data");
    const draw = () => {
      if (global) drawGlobal(global);
      if (whatIf) setupWhatIf(whatIf);
    };
    if (window.Plotly) { draw(); return; }
    window.addEventListener("load", () => { if (window.Plotly) draw(); });
  }

  window.addEventListener("DOMContentLoaded", start);
})();
