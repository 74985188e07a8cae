"""The acknowledged publisher's counters: named after the service, registered once per process."""

from iop_contracts.publishing import counted_publisher
from prometheus_client import REGISTRY


class Refused(ConnectionError):
    pass


async def test_a_publisher_not_yet_connected_counts_nothing_and_raises_the_services_error() -> None:
    publisher = counted_publisher(object(), 1.0, service="svc_a", unavailable=Refused)  # type: ignore[arg-type]
    before = REGISTRY.get_sample_value("svc_a_publish_failures_total")
    try:
        from iop_contracts import new_event, parse_payload

        event = new_event(parse_payload("iop.group.retired", {"group_id": "g"}), source="/t")
        await publisher.publish(event)
    except Refused as error:
        assert "not connected" in str(error)
    else:
        raise AssertionError("an unconnected publisher published")
    assert REGISTRY.get_sample_value("svc_a_publish_failures_total") == before


def test_two_publishers_of_one_service_share_its_counters() -> None:
    counted_publisher(object(), 1.0, service="svc_b", unavailable=Refused)  # type: ignore[arg-type]
    counted_publisher(object(), 1.0, service="svc_b", unavailable=Refused)  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("svc_b_publish_failures_total") == 0.0
    names = {metric.name for metric in REGISTRY.collect()}
    assert {"svc_b_events_published", "svc_b_publish_failures"} <= names
