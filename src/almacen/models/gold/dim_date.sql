-- Every business date (in the business time zone) from the first sale to the last.
WITH bounds AS (
    SELECT min(timezone($timezone, sold_at))::DATE AS first_day, max(timezone($timezone, sold_at))::DATE AS last_day
    FROM silver.sales
)
SELECT d::DATE AS date, year(d) AS year, month(d) AS month, yearweek(d) AS iso_yearweek,
       isodow(d) AS iso_weekday,
       ['lunes', 'martes', 'miércoles', 'jueves', 'viernes', 'sábado', 'domingo'][isodow(d)] AS weekday_es,
       isodow(d) >= 6 AS is_weekend, day(d) <= 5 AS is_payday_window
FROM bounds, range(first_day, last_day + INTERVAL 1 DAY, INTERVAL 1 DAY) AS r(d)
