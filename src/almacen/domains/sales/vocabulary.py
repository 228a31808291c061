"""The sales vocabulary of DATA-MODEL.md: statuses, channels, payment types."""

STATUSES = ("aprobada", "rechazada", "pendiente", "anulada")
CHANNELS = ("tienda", "web", "app")
PAYMENT_TYPES = ("efectivo", "debito", "credito", "mercado_pago_qr", "transferencia")
APPROVED = "aprobada"
