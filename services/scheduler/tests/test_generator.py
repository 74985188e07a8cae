"""The synthetic network generator: seeded, varied, and oversubscribed at load >= 1."""

from __future__ import annotations

from iop_scheduler.solver import generate


def test_same_seed_same_network() -> None:
    assert generate(7, regions=1, sites_per_region=2) == generate(7, regions=1, sites_per_region=2)
    assert generate(7, regions=1, sites_per_region=2) != generate(8, regions=1, sites_per_region=2)


def test_network_has_the_hard_segments() -> None:
    snap = generate(3, regions=2, sites_per_region=4, load=1.0)
    groups = snap["groups"]
    assert {g["track"] for g in groups} == {"substance_use", "mental_health", "dual_diagnosis"}
    assert any(g["population"] == "adolescent" for g in groups)
    assert any(g["gender"] == "women" for g in groups)
    assert any(g["language"] == "es" for g in groups)
    assert any(g["delivery"] == "telehealth" for g in groups)
    assert {s["region_id"] for s in snap["sites"]} == {"r01", "r02"}
    creds = [frozenset(t["credentials"]) for t in snap["therapists"]]
    assert len(set(creds)) > 3


def test_load_scales_demand_against_seats() -> None:
    for load in (0.5, 1.0, 1.5):
        snap = generate(1, regions=1, sites_per_region=3, load=load)
        seats = sum(g["capacity"] for g in snap["groups"])
        assert len(snap["enrollments"]) == round(seats * load)


def test_contact_blocks_are_synthetic() -> None:
    snap = generate(2, regions=1, sites_per_region=2)
    assert all(e["contact"]["email"].endswith("@example.org") for e in snap["enrollments"])
