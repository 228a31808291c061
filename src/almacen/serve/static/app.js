// almacen dashboard: reads /api with the page's filters and draws cards, charts and tables.
// Every number comes from the API, which applies the user's role and branch scope.
"use strict";

const T = JSON.parse(document.getElementById("texts").textContent);
const LANG = document.body.dataset.lang;
const PAGE = document.body.dataset.page;
const charts = {};
const LOCALE = LANG === "es" ? "es-AR" : "en-US";
const money = new Intl.NumberFormat(LOCALE, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(LOCALE, { style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });

function query() {
  const form = document.getElementById("filters");
  const params = new URLSearchParams(window.location.search);
  params.delete("lang");
  if (!form) return params;
  const out = new URLSearchParams();
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.multiple) for (const o of el.selectedOptions) out.append(el.name, o.value);
    else if (el.value) out.set(el.name, el.value);
  }
  return out;
}

async function api(path, params) {
  const url = `/api/${path}${params && [...params].length ? "?" + params : ""}`;
  const res = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (res.status === 401) { window.location = `/login?expired=1&next=${encodeURIComponent(location.pathname)}`; return null; }
  const body = await res.json();
  if (!res.ok) throw new Error(typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail));
  return body;
}

function problem(message) {
  const p = document.getElementById("problem");
  if (!p) return;
  p.hidden = !message;
  p.textContent = message || "";
}

function exports(dataset, params) {
  for (const p of document.querySelectorAll(`.exports[data-dataset="${dataset}"]`)) {
    p.replaceChildren();
    for (const fmt of ["csv", "xlsx"]) {
      const a = document.createElement("a");
      a.href = `/api/export/${dataset}.${fmt}${params && [...params].length ? "?" + params : ""}`;
      a.textContent = T[`export_${fmt}`];
      a.className = "export";
      a.dataset.format = fmt;
      p.append(a, " ");
    }
  }
}

function table(id, rows) {
  const el = document.getElementById(id);
  if (!el) return;
  el.replaceChildren();
  if (!rows.length) { const c = el.insertRow().insertCell(); c.textContent = T.no_data; return; }
  const head = el.createTHead().insertRow();
  for (const k of Object.keys(rows[0])) { const th = document.createElement("th"); th.textContent = T[k] || k; head.append(th); }
  const body = el.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const v of Object.values(r)) {
      const td = tr.insertCell();
      td.textContent = v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    }
  }
}

function chart(id, type, labels, datasets) {
  const el = document.getElementById(id);
  if (!el || !window.Chart) return;
  if (charts[id]) charts[id].destroy();
  charts[id] = new Chart(el, { type, data: { labels, datasets },
    options: { animation: false, responsive: true, maintainAspectRatio: false, interaction: { mode: "index", intersect: false } } });
}

function change(pct) {
  if (pct === null || pct === undefined) return "—";
  return `${pct > 0 ? "▲" : pct < 0 ? "▼" : "="} ${percent.format(Math.abs(pct) / 100)}`;
}

async function fillChoices() {
  const form = document.getElementById("filters");
  if (!form) return;
  const c = await api("choices");
  if (!c) return;
  const params = new URLSearchParams(window.location.search);
  const fill = (name, values) => {
    const sel = form.elements[name];
    if (!sel) return;
    for (const [value, label] of values) {
      const o = new Option(label, value, false, params.getAll(name).includes(value));
      sel.add(o);
    }
  };
  fill("branch", c.branches.map((b) => [b.branch_id, b.name]));
  fill("category", c.categories.map((x) => [x, x]));
  fill("channel", c.channels.map((x) => [x, x]));
  fill("payment_type", c.payment_types.map((x) => [x, x]));
  for (const name of ["from", "to", "by", "grain"]) if (params.get(name) && form.elements[name]) form.elements[name].value = params.get(name);
}

const PAGES = {
  async overview(params) {
    const data = await api("kpis", params);
    if (!data) return;
    const box = document.getElementById("kpis");
    box.replaceChildren();
    for (const k of data.rows) {
      const card = document.createElement("article");
      card.className = "card";
      card.dataset.kpi = k.kpi;
      const value = k.value === null ? "—" : k.kpi === "approval_rate" ? percent.format(Number(k.value)) : money.format(Number(k.value));
      card.innerHTML = "<h2></h2><p class='value'></p><p class='trend'></p><p class='trend'></p>";
      card.querySelector("h2").textContent = T[k.kpi];
      card.querySelector(".value").textContent = value;
      const [a, b] = card.querySelectorAll(".trend");
      a.textContent = `${change(k.vs_previous_pct)} ${T.vs_previous}`;
      b.textContent = `${change(k.vs_last_week_pct)} ${T.vs_last_week}`;
      box.append(card);
    }
    const range = document.getElementById("filters");
    if (range && !range.elements.from.value) { range.elements.from.value = data.filters.start; range.elements.to.value = data.filters.end; }
  },
  async sales(params) {
    const data = await api("sales", params);
    if (!data) return;
    const periods = [...new Set(data.rows.map((r) => r.period))];
    const keys = [...new Set(data.rows.map((r) => r.label))];
    const series = keys.map((label) => ({ label, data: periods.map((p) => {
      const r = data.rows.find((x) => x.period === p && x.label === label);
      return r ? Number(r.revenue) : 0;
    }) }));
    chart("sales-chart", "bar", periods, series);
    table("sales-table", data.rows);
    const range = document.getElementById("filters");
    if (range && !range.elements.from.value) { range.elements.from.value = data.filters.start; range.elements.to.value = data.filters.end; }
  },
  async realtime() {
    const data = await api("realtime");
    if (!data) return;
    const labels = data.rows.map((r) => r.minute.slice(11, 16));
    chart("realtime-chart", "line", labels, [{ label: T.amount, data: data.rows.map((r) => Number(r.amount)) }]);
    table("realtime-table", data.rows.slice(-10).reverse());
    document.getElementById("updated").textContent = new Date().toLocaleTimeString(LANG);
  },
  async quality() {
    for (const el of document.querySelectorAll("[data-quality]")) {
      const data = await api(`quality/${el.dataset.quality}`);
      if (data) table(el.id, data.rows);
    }
  },
  async audit() {
    const data = await api("audit", new URLSearchParams({ limit: "200" }));
    if (data) table("audit-table", data.rows);
  },
};

async function show() {
  const params = query();
  try {
    problem(null);
    await PAGES[PAGE](params);
    for (const p of document.querySelectorAll(".exports")) exports(p.dataset.dataset, params);
  } catch (err) {
    problem(err.message);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  if (!PAGES[PAGE]) return;
  try { await fillChoices(); } catch (err) { problem(err.message); }
  const form = document.getElementById("filters");
  if (form) form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    history.replaceState(null, "", `?${query()}`);
    show();
  });
  await show();
  document.body.dataset.ready = "true";
  if (PAGE === "realtime") setInterval(show, 10000);
});
