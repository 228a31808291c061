-- access: public
-- keys: channel
-- Sales channels with their display names.
SELECT * FROM (VALUES ('tienda', 'Tienda física', 'Store'), ('web', 'Tienda online', 'Web shop'),
                      ('app', 'App', 'App')) AS t(channel, label_es, label_en)
