-- access: public
-- keys: product_id
-- Products from the head-office catalog.
SELECT product_id, sku, name, category, price FROM silver.products
