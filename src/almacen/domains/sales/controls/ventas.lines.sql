-- Control lines of the "ventas" point of sale: every item of the sales dated in [:start, :end): products by
-- id (id_producto), `importe` is the line's amount. Portable SQL.
SELECT i.id_venta AS sale_id,
       i.renglon AS line_no,
       i.id_producto AS product_id,
       i.cantidad AS quantity,
       i.precio_unitario AS unit_price,
       i.importe AS amount
FROM ventas_items i
JOIN ventas v ON v.id_venta = i.id_venta
WHERE v.fecha >= :start AND v.fecha < :end
