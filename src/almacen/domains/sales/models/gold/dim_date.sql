-- access: public
-- keys: date
-- Every business date (in the business time zone) from the first sale to the last.
WITH bounds AS (
    SELECT min(sold_at AT TIME ZONE $timezone)::DATE AS first_day, max(sold_at AT TIME ZONE $timezone)::DATE AS last_day
    FROM silver.sales
)
SELECT d::DATE AS date, year(d)::INTEGER AS year, month(d)::INTEGER AS month,
       yearweek(d)::INTEGER AS iso_yearweek, isodow(d)::INTEGER AS iso_weekday,
       ['lunes', 'martes', 'miércoles', 'jueves', 'viernes', 'sábado', 'domingo'][isodow(d)] AS weekday_es,
       isodow(d) >= 6 AS is_weekend, day(d) <= 5 AS is_payday_window
FROM bounds, unnest(generate_series(first_day, last_day, INTERVAL 1 DAY)) AS r(d)
