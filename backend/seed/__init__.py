"""A synthetic province: realistic residents of a county, for demos, tests and benchmarks."""

from backend.seed.service import SeedReport, seed_residents

__all__ = ["SeedReport", "seed_residents"]
