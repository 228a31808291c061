-- Control totals of the "ventas" point of sale: every sale dated in [:start, :end) (the POS's own wall-clock
-- time). Its values are almacen's vocabulary already. Written apart from its mapping
-- (sources/pos_schemas/ventas.toml) and never generated from it. Portable SQL (PostgreSQL, MariaDB, SQLite).
SELECT v.id_venta AS sale_id,
       v.fecha AS sold_at,
       v.actualizado AS updated_at,
       CASE WHEN v.estado = 'aprobada' THEN 1 ELSE 0 END AS approved,
       v.estado AS status,
       v.canal AS channel,
       v.medio_pago AS payment_type
FROM ventas v
WHERE v.fecha >= :start AND v.fecha < :end
