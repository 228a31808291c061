// The sales pages of the dashboard: KPI cards (overview), sales by a dimension (sales), approved sales per
// minute (realtime). Loaded after the server's app.js, whose helpers (window.almacen) draw them.
"use strict";

(() => {
  const { T, LANG, money, percent, api, table, chart, change, page } = window.almacen;

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

  function showRange(data) {
    const range = document.getElementById("filters");
    if (range && !range.elements.from.value) { range.elements.from.value = data.filters.start; range.elements.to.value = data.filters.end; }
  }

  page("overview", async (params) => {
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
    showRange(data);
  }, { setup: fillChoices });

  page("sales", async (params) => {
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
    showRange(data);
  }, { setup: fillChoices });

  page("realtime", async () => {
    const data = await api("realtime");
    if (!data) return;
    const labels = data.rows.map((r) => r.minute.slice(11, 16));
    chart("realtime-chart", "line", labels, [{ label: T.amount, data: data.rows.map((r) => Number(r.amount)) }]);
    table("realtime-table", data.rows.slice(-10).reverse());
    document.getElementById("updated").textContent = new Date().toLocaleTimeString(LANG);
  }, { every: 10000 });
})();
