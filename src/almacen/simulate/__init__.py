"""A synthetic Argentine retail chain writing into its branches' point-of-sale databases."""

from almacen.simulate.bulk import bulk_sales
from almacen.simulate.catalog import Product, build_catalog
from almacen.simulate.chain import BranchSummary, SimulationSummary, simulate_chain, write_catalog
from almacen.simulate.demo import demo_config
from almacen.simulate.plan import DEFECTS, Sale, plan_day

__all__ = [
    "DEFECTS",
    "BranchSummary",
    "Product",
    "Sale",
    "SimulationSummary",
    "build_catalog",
    "bulk_sales",
    "demo_config",
    "plan_day",
    "simulate_chain",
    "write_catalog",
]
