-- Control totals of the "tickets" point of sale: every ticket issued in [:start, :end) (the POS's own
-- wall-clock time), in the POS's own terms. Written apart from its mapping (sources/pos_schemas/tickets.toml)
-- and never generated from it: reconciliation compares the lake with this, so a wrong mapping shows.
-- Portable SQL (PostgreSQL, MariaDB and SQLite run it unchanged): no functions, no casts.
-- Codes with no almacen value (forma_pago 'CH', cheque) stay as the POS wrote them, as they reach quarantine.
SELECT t.ticket_nro AS sale_id,
       t.emitido_en AS sold_at,
       t.modificado_en AS updated_at,
       CASE WHEN t.situacion = 'APR' THEN 1 ELSE 0 END AS approved,
       CASE t.situacion WHEN 'APR' THEN 'aprobada' WHEN 'REC' THEN 'rechazada' WHEN 'PEN' THEN 'pendiente'
                        WHEN 'ANU' THEN 'anulada' ELSE t.situacion END AS status,
       CASE t.origen WHEN 'T' THEN 'tienda' WHEN 'W' THEN 'web' WHEN 'A' THEN 'app' ELSE t.origen END AS channel,
       CASE t.forma_pago WHEN 'EF' THEN 'efectivo' WHEN 'TD' THEN 'debito' WHEN 'TC' THEN 'credito'
                         WHEN 'QR' THEN 'mercado_pago_qr' WHEN 'TR' THEN 'transferencia'
                         ELSE t.forma_pago END AS payment_type
FROM tickets t
WHERE t.emitido_en >= :start AND t.emitido_en < :end
