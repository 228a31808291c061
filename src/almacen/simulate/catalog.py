"""The head-office product catalog: ~2,000 SKUs in categories with 2026 ARS prices."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from decimal import Decimal

# category: (share of SKUs, price range ARS, nouns, popularity weight for sales)
CATEGORIES: dict[str, tuple[float, tuple[int, int], tuple[str, ...], float]] = {
    "Almacén": (
        0.22,
        (600, 12_000),
        (
            "Yerba mate",
            "Arroz",
            "Fideos",
            "Aceite",
            "Harina",
            "Azúcar",
            "Café",
            "Galletitas",
            "Dulce de leche",
            "Tomate triturado",
        ),
        3.0,
    ),
    "Bebidas": (
        0.12,
        (700, 25_000),
        ("Gaseosa", "Agua mineral", "Cerveza", "Vino tinto", "Jugo", "Fernet", "Soda", "Energizante"),
        2.5,
    ),
    "Lácteos": (0.08, (900, 9_000), ("Leche", "Yogur", "Queso cremoso", "Manteca", "Crema", "Queso rallado"), 2.2),
    "Frescos": (
        0.08,
        (1_500, 18_000),
        ("Carne picada", "Pollo", "Milanesas", "Tomate", "Papa", "Banana", "Manzana"),
        2.0,
    ),
    "Panadería": (0.05, (800, 7_000), ("Pan francés", "Medialunas", "Facturas", "Pan lactal", "Bizcochitos"), 1.6),
    "Congelados": (0.06, (2_000, 16_000), ("Hamburguesas", "Empanadas", "Pizza", "Helado", "Papas fritas"), 1.0),
    "Limpieza": (
        0.10,
        (900, 15_000),
        ("Lavandina", "Detergente", "Jabón en polvo", "Suavizante", "Desinfectante"),
        1.2,
    ),
    "Perfumería": (0.10, (1_200, 20_000), ("Shampoo", "Jabón", "Desodorante", "Pasta dental", "Crema corporal"), 1.0),
    "Bazar": (0.07, (3_000, 60_000), ("Vaso", "Sartén", "Juego de cubiertos", "Termo", "Mate"), 0.4),
    "Electro": (
        0.06,
        (50_000, 1_500_000),
        ("Pava eléctrica", "Licuadora", "Televisor", "Aire acondicionado", "Heladera", "Celular"),
        0.15,
    ),
    "Textil": (0.06, (5_000, 90_000), ("Remera", "Jean", "Zapatillas", "Campera", "Medias"), 0.3),
}
BRANDS = (
    "La Serenísima",
    "Arcor",
    "Molinos",
    "Quilmes",
    "Taragüí",
    "Marolio",
    "Ledesma",
    "Cif",
    "Ala",
    "Sancor",
    "Paladini",
    "Bagley",
    "Mastellone",
    "Philco",
    "BGH",
    "Noblex",
    "Topper",
    "Playadito",
    "Cabrales",
    "Villavicencio",
)


@dataclass(frozen=True)
class Product:
    product_id: int
    sku: str
    name: str
    category: str
    price: Decimal
    weight: float
    """how often it sells, relative to others"""


@functools.cache
def build_catalog(seed: int = 7, n_products: int = 2000) -> tuple[Product, ...]:
    """A deterministic catalog: same seed, same products."""
    rng = random.Random(f"catalog:{seed}")
    products: list[Product] = []
    for category, (share, (low, high), nouns, popularity) in CATEGORIES.items():
        for _ in range(max(1, round(n_products * share))):
            pid = len(products) + 1
            price = Decimal(round(rng.uniform(low, high) / 10) * 10).quantize(Decimal("0.01"))
            name = f"{rng.choice(nouns)} {rng.choice(BRANDS)} {rng.choice(('x1', '500 g', '1 kg', '1 l', '2 l', 'pack x6', 'grande', 'chico'))}"
            products.append(Product(pid, f"7790{pid:08d}", name, category, price, popularity * rng.uniform(0.2, 1.8)))
    return tuple(products[:n_products])
