-- access: public
-- keys: payment_type
-- Payment types with their display names.
SELECT * FROM (VALUES ('efectivo', 'Efectivo', 'Cash'), ('debito', 'Tarjeta de débito', 'Debit card'),
                      ('credito', 'Tarjeta de crédito', 'Credit card'),
                      ('mercado_pago_qr', 'Mercado Pago QR', 'Mercado Pago QR'),
                      ('transferencia', 'Transferencia', 'Bank transfer')) AS t(payment_type, label_es, label_en)
