"""Whose client an id is: every route judges the caller against the stored record, never the body.

A client id belongs to the scope of its stored record: the region and sites of the status
projection (rebuilt from Kafka), which only a current `enrollment.requested` sets. The record is
first set by the client's first enrollment, and it only moves when a new enrollment is made by a
key (or a referral) that covers the record as it stood, so a scope can only be left by someone who
already had it. Intake refuses to publish a request that reuses the id of a client with an active
enrollment; one already on the topic is not current: intake's status projection and the
notifier's contact directory ignore it, as the scheduler does (which keeps enrollments per region,
so it ignores such a request only within the client's region).

Answers, and what each can tell a caller whose key does not cover the record:
- Reading, withdrawing, discharging: a record outside the key's scope is answered exactly as an
  unknown id (404, the same body with the id the caller sent, nothing published), so these routes
  say nothing about ids the key cannot see.
- Enrolling (POST /v1/enrollments): an id with an active enrollment, or whose record the key does
  not cover, is refused with one 409 and one body (`NOT_AVAILABLE`), nothing published. The
  refusal does not say which of the two it is, nor the client's status, region or sites: a key
  that covers the record learns nothing from it that a status read would not tell it, and a key
  that does not learns only that the id is in use outside its scope. That one bit cannot be kept
  from it: answering 202 to an unused id and to a used one alike would mean taking the used one
  over (the attack this prevents) or lying that an enrollment was accepted. Asking costs the
  prober a published enrollment under its own name whenever the id was free, and every refusal is
  logged with the key's name; a 404 instead would tell the same bit while contradicting what a
  covering key reads, so the refusal is the one 409 a covering key also gets for an active client.
- Re-enrollment after a withdrawal, a discharge or a completion is allowed to any key that covers
  the record (its region, and all its sites for a site key: the same rule as reading it). From
  another scope it is the same 409 as above, whatever the client's status, so it reveals neither
  that the enrollment ended nor where the client was.
- A record that only holds declines (`claimed` false) has no site on record (a decline carries
  none), so no scope can be checked: it belongs to whoever enrolls the id first (any key covering
  the body; 202 as for an unknown id, so this reveals nothing either). Its reasons stay readable
  only by keys covering its region with no site (region and network keys), as before.

Referrals (iop.referral.v1) come with no API key: a referral is judged as if its key were scoped
to exactly its own region and the sites it names. It may enroll an unknown or unclaimed id, or
re-enroll a client whose enrollment ended and whose record lies in the referral's region with all
its sites among the referral's (a client tied to no site: only by a referral naming no site
either). Anything else is dead-lettered with REFERRAL_REFUSED, one reason for an active enrollment
and for another scope's client alike. This stops two EHRs whose ids collide from taking each
other's clients; it does not authenticate a producer (whoever may write the referral topic may
name any region and site): that is the broker's ACLs' job.
"""

from collections.abc import Iterable

from iop_contracts.access import Scope

from iop_intake.domain.status import ClientStatus

NOT_AVAILABLE = (
    "no new enrollment can be accepted under this client id: it has an active enrollment, "
    "or it is not available to this API key"
)
"""The body's detail of every refused enrollment, whichever the reason."""

REFERRAL_REFUSED = (
    "data.client_id: no new enrollment can be accepted under this id (an enrollment is active, "
    "or the client's record lies outside the referral's region and sites)"
)
"""The dead-letter reason of every refused referral, whichever the reason."""


def may_see(scope: Scope, client: ClientStatus) -> bool:
    """Whether the key may read the client, withdraw or discharge them."""
    return scope.covers(client.region_id, client.site_ids)


def may_enroll(scope: Scope, client: ClientStatus | None) -> bool:
    """Whether a key (that covers the request's body) may publish a new enrollment for the id."""
    if client is None or not client.claimed:
        return True
    return not client.enrolled and may_see(scope, client)


def referral_may_enroll(
    region_id: str, site_ids: Iterable[str], client: ClientStatus | None
) -> bool:
    """Whether a referral naming this region and these sites may enroll the id."""
    if client is None or not client.claimed:
        return True
    if client.enrolled or client.region_id != region_id:
        return False
    on_record, named = set(client.site_ids), set(site_ids)
    return on_record <= named if on_record else not named
