"""Who may enroll, read or end a client: judged against the stored record (pure)."""

from iop_contracts import ClientCompleted, EnrollmentDeclined, EnrollmentWithdrawn, Payload
from iop_contracts.access import Scope
from iop_intake.domain.identity import may_enroll, may_see, referral_may_enroll
from iop_intake.domain.status import ClientStatus, StatusProjection

from .test_status import event, ids, requested, scheduled

BOS1 = Scope(name="bos-1 desk", sites=frozenset({"bos-1"}), regions=frozenset({"ne"}))
BOS2 = Scope(name="bos-2 desk", sites=frozenset({"bos-2"}), regions=frozenset({"ne"}))
NE = Scope(name="ne office", regions=frozenset({"ne"}))
SE = Scope(name="se office", regions=frozenset({"se"}))


def record(*payloads: Payload) -> ClientStatus:
    projection = StatusProjection()
    for seconds, payload in enumerate(payloads):
        projection.apply(event(payload, seconds=seconds))
    client = projection.get("c-8f3a")
    assert client is not None
    return client


def test_an_unknown_id_may_be_enrolled_by_any_key() -> None:
    assert may_enroll(BOS1, None) and may_enroll(SE, None)


def test_no_key_may_enroll_a_client_whose_enrollment_is_active() -> None:
    active = record(requested(preferred_site_ids=["bos-2"]))
    assert not any(may_enroll(scope, active) for scope in (BOS1, BOS2, NE, SE))
    assert may_see(BOS2, active) and may_see(NE, active)
    assert not may_see(BOS1, active) and not may_see(SE, active)


def test_after_the_enrollment_ended_only_keys_covering_the_record_may_enroll_again() -> None:
    withdrawn = record(requested(preferred_site_ids=["bos-2"]), EnrollmentWithdrawn(**ids()))
    done = record(
        requested(preferred_site_ids=["bos-2"]),
        scheduled(site="bos-2"),
        ClientCompleted(**ids(), schedule_version=1, end_date="2027-01-31"),
    )
    for ended in (withdrawn, done):
        assert may_enroll(BOS2, ended) and may_enroll(NE, ended)
        assert not may_enroll(BOS1, ended) and not may_enroll(SE, ended)


def test_an_id_with_declines_only_belongs_to_no_scope_and_shows_to_region_keys_only() -> None:
    declined = record(EnrollmentDeclined(**ids(), reasons=["x"], recommended_level="inpatient"))
    assert all(may_enroll(scope, declined) for scope in (BOS1, BOS2, NE, SE))
    assert may_see(NE, declined) and not may_see(BOS2, declined)


def test_a_referral_is_judged_by_its_own_region_and_sites() -> None:
    ended = record(requested(preferred_site_ids=["bos-2"]), EnrollmentWithdrawn(**ids()))
    assert referral_may_enroll("ne", ["bos-2"], ended)
    assert referral_may_enroll("ne", ["bos-1", "bos-2"], ended)
    assert not referral_may_enroll("ne", ["bos-1"], ended)
    assert not referral_may_enroll("ne", [], ended)
    assert not referral_may_enroll("se", ["bos-2"], ended)
    active = record(requested(preferred_site_ids=["bos-2"]))
    assert not referral_may_enroll("ne", ["bos-2"], active)
    assert referral_may_enroll("se", ["atl-1"], None)


def test_a_client_tied_to_no_site_is_re_enrolled_only_by_a_referral_naming_none() -> None:
    remote = record(
        requested(preferred_site_ids=[], accepts_telehealth=True), EnrollmentWithdrawn(**ids())
    )
    assert referral_may_enroll("ne", [], remote)
    assert not referral_may_enroll("ne", ["bos-1"], remote)
    assert may_enroll(NE, remote) and not may_enroll(BOS1, remote)
