-- Control lines of the "tickets" point of sale: every line of the tickets issued in [:start, :end), as the
-- POS keeps it: products by SKU (cod_articulo), `subtotal` is the line's amount. Portable SQL.
SELECT l.ticket_nro AS sale_id,
       l.linea AS line_no,
       l.cod_articulo AS sku,
       l.unidades AS quantity,
       l.precio AS unit_price,
       l.subtotal AS amount
FROM ticket_lineas l
JOIN tickets t ON t.ticket_nro = l.ticket_nro
WHERE t.emitido_en >= :start AND t.emitido_en < :end
