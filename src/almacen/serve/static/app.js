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

const PAGES = {
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
const SETUP = {};
const EVERY = {};

// What a domain's page script (Page.script, loaded after this file) uses: it registers how its page is
// drawn with almacen.page(label, draw, {setup, every}) and draws with the helpers.
window.almacen = {
  T, LANG, money, percent, api, table, chart, change,
  page(name, draw, { setup, every } = {}) {
    PAGES[name] = draw;
    if (setup) SETUP[name] = setup;
    if (every) EVERY[name] = every;
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
  if (SETUP[PAGE]) try { await SETUP[PAGE](); } catch (err) { problem(err.message); }
  const form = document.getElementById("filters");
  if (form) form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    history.replaceState(null, "", `?${query()}`);
    show();
  });
  await show();
  document.body.dataset.ready = "true";
  if (EVERY[PAGE]) setInterval(show, EVERY[PAGE]);
});
