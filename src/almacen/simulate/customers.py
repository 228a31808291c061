"""Customers with Argentine identities (Faker es_AR): name, DNI, email, phone."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from faker import Faker


@dataclass(frozen=True)
class Customer:
    dni: str
    name: str
    email: str
    phone: str


@functools.cache
def build_customers(seed: int = 7, n: int = 3000) -> tuple[Customer, ...]:
    """A deterministic customer base."""
    fake = Faker("es_AR")
    fake.seed_instance(seed)
    out = []
    for i in range(n):
        first, last = fake.first_name(), fake.last_name()
        dni = str(fake.random_int(20_000_000, 45_999_999))
        user = f"{first}.{last}".lower().replace(" ", "")
        out.append(Customer(dni, f"{first} {last}", f"{user}{i}@{fake.free_email_domain()}", fake.phone_number()))
    return tuple(out)
