"""deploy/k8s, the Kubernetes shape, without a cluster: the production overlay is rendered by a
small reading of its kustomization (resources, namespace, map-only patches, images; anything
else is refused, so the renderer cannot silently differ from kustomize), each manifest is
validated in strict mode against the newest Kubernetes schemas that kubernetes-validate ships, and
what must hold is asserted against the code: probes on paths the service's app really serves,
settings the service really reads, Secrets documented for the operator, numeric non-root users
with read-only root filesystems."""

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from faststream.asgi import AsgiFastStream
from iop_contracts import topics
from iop_contracts.kafka import KafkaSettings
from pydantic_settings import BaseSettings
from starlette.routing import Match

ROOT = Path(__file__).parents[1]
BASE = ROOT / "deploy" / "k8s" / "base"
PRODUCTION = ROOT / "deploy" / "k8s" / "overlays" / "production"
OPERATIONS = ROOT / "docs" / "operations.md"
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "namespace", "patches", "images"}
CLUSTER_SCOPED = {"Namespace"}
WORKLOADS = {"Deployment", "StatefulSet", "Job"}
SERVICES = ("intake", "scheduler", "notifier", "clinic")
USER = 10001

Manifest = dict[str, Any]


# --- the renderer ------------------------------------------------------------------------------


def render(directory: Path) -> list[Manifest]:
    """The manifests of a kustomization directory, as `kubectl kustomize` gives them."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(kustomization) - KUSTOMIZATION_KEYS
    if unknown:
        raise NotImplementedError(f"{directory}: this renderer does not read {sorted(unknown)}")
    manifests = [m for entry in kustomization.get("resources", []) for m in load(directory / entry)]
    for patch in kustomization.get("patches", []):
        apply_patch(manifests, yaml.safe_load((directory / patch.pop("path")).read_text()), patch)
    for image in kustomization.get("images", []):
        for container in containers_of(manifests):
            set_image(container, image)
    namespace = kustomization.get("namespace")
    for manifest in manifests:
        if namespace and manifest["kind"] not in CLUSTER_SCOPED:
            manifest["metadata"]["namespace"] = namespace
    return manifests


def load(path: Path) -> list[Manifest]:
    if path.is_dir():
        return render(path)
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def apply_patch(manifests: list[Manifest], patch: Manifest, options: dict[str, Any]) -> None:
    """A strategic-merge patch that touches maps and scalars only (a list would need the field's
    merge key, which this renderer does not know: it refuses rather than guess)."""
    if options:
        raise NotImplementedError(f"patch options {sorted(options)}")
    targets = [m for m in manifests if same_object(m, patch)]
    assert len(targets) == 1, f"patch {patch['kind']}/{patch['metadata']['name']} targets nothing"
    merge(targets[0], patch)


def same_object(manifest: Manifest, patch: Manifest) -> bool:
    return (manifest["kind"], manifest["metadata"]["name"]) == (
        patch["kind"],
        patch["metadata"]["name"],
    )


def merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, list):
            raise NotImplementedError(f"a list in a patch ({key})")
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


def containers_of(manifests: list[Manifest]) -> Iterator[dict[str, Any]]:
    for manifest in manifests:
        if manifest["kind"] in WORKLOADS:
            yield from pod_spec(manifest)["containers"]


def set_image(container: dict[str, Any], image: dict[str, str]) -> None:
    name = re.split(r"[:@]", container["image"], maxsplit=1)[0]
    if name != image["name"]:
        return
    reference = image.get("newName", name)
    if "digest" in image:
        reference += "@" + image["digest"]
    elif "newTag" in image:
        reference += ":" + image["newTag"]
    container["image"] = reference


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    return dict(manifest["spec"]["template"]["spec"])


# --- what the services are ----------------------------------------------------------------------


def settings_class(service: str) -> type[BaseSettings]:
    module = __import__(f"iop_{service}.settings", fromlist=["_"])
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings
    ]
    (found,) = [cls for cls in classes if cls.__module__ == module.__name__]
    return found


def built_app(service: str) -> Any:
    """The service's app, built without connecting anything (as its tests build it)."""
    builders: dict[str, Callable[[], Any]] = {
        "intake": lambda: __import__("iop_intake.app", fromlist=["_"]).build_app(
            settings_class("intake")(auth_disabled=True)
        ),
        "clinic": lambda: __import__("iop_clinic.app", fromlist=["_"]).build_app(
            settings_class("clinic")(auth_disabled=True)
        ),
        "scheduler": lambda: __import__("iop_scheduler.app", fromlist=["_"]).build(
            settings_class("scheduler")()
        )[0],
        "notifier": lambda: __import__("iop_notifier.app", fromlist=["_"]).build_app(
            settings_class("notifier")()
        ),
    }
    return builders[service]()


def serves(app: Any, path: str) -> bool:
    if isinstance(app, AsgiFastStream):
        return any(route == path for route, _ in app.routes)
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def kafka_variables() -> set[str]:
    names: set[str] = set()
    for field in KafkaSettings.model_fields.values():
        alias = field.validation_alias
        names.update(str(choice) for choice in getattr(alias, "choices", [alias]) if choice)
    return names


# --- the rendered overlay -----------------------------------------------------------------------

RENDERED = render(PRODUCTION)
BY_KIND_NAME = {(m["kind"], m["metadata"]["name"]): m for m in RENDERED}
CONFIG_MAPS = {
    m["metadata"]["name"]: m.get("data", {}) for m in RENDERED if m["kind"] == "ConfigMap"
}
WORKLOAD_MANIFESTS = [m for m in RENDERED if m["kind"] in WORKLOADS]
SERVING = [m for m in RENDERED if m["kind"] in {"Deployment", "StatefulSet"}]


def workload(service: str) -> Manifest:
    (found,) = [m for m in SERVING if m["metadata"]["name"] == f"iop-{service}"]
    return found


def container(service: str) -> dict[str, Any]:
    (found,) = pod_spec(workload(service))["containers"]
    return dict(found)


def environment(container_spec: dict[str, Any]) -> dict[str, Any]:
    """Every variable the container gets: its ConfigMaps' keys, then its own env entries."""
    variables: dict[str, Any] = {}
    for source in container_spec.get("envFrom", []):
        variables.update(CONFIG_MAPS[source["configMapRef"]["name"]])
    for entry in container_spec.get("env", []):
        variables[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return variables


def label(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("manifest", RENDERED, ids=label)
def test_every_manifest_is_valid_for_the_newest_kubernetes(manifest: Manifest) -> None:
    version = kubernetes_validate.latest_version()
    kubernetes_validate.validate(manifest, version, strict=True)


def test_strict_validation_refuses_an_unknown_field() -> None:
    """The validator above is not a formality: a misspelt field fails it."""
    broken = yaml.safe_load(yaml.safe_dump(workload("intake")))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) not here")
def test_the_renderer_agrees_with_kubectl_kustomize() -> None:
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(PRODUCTION)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = [doc for doc in yaml.safe_load_all(rendered) if doc]
    assert sorted(theirs, key=label) == sorted(RENDERED, key=label)


def test_the_four_services_and_the_topics_job_are_deployed() -> None:
    assert {m["metadata"]["name"] for m in SERVING} == {f"iop-{s}" for s in SERVICES}
    assert workload("notifier")["kind"] == "StatefulSet"
    job = BY_KIND_NAME[("Job", "iop-topics")]
    (topics_container,) = pod_spec(job)["containers"]
    # The single source of the topics: the same command as compose's job and `iop up`.
    assert topics_container["command"] == ["iop", "topics", "create"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_its_own_entry_point_from_its_own_image(service: str) -> None:
    spec = container(service)
    assert spec["command"] == [f"iop-{service}", "run"]
    assert spec["image"].startswith(f"registry.example.org/iop/{service}:")


def test_every_image_is_renamed_by_the_overlay() -> None:
    base_names = {c["image"] for c in containers_of(render(BASE))}
    assert base_names == {f"iop-{s}" for s in (*SERVICES, "operator")}
    assert not {c["image"] for c in containers_of(RENDERED)} & base_names


@pytest.mark.parametrize("service", SERVICES)
def test_probes_point_at_health_paths_the_service_serves(service: str) -> None:
    spec = container(service)
    (port,) = spec["ports"]
    settings = settings_class(service)
    prefix = service.upper()
    # The port the pod exposes is the port the service listens on (env, else its default).
    default_port = settings.model_fields["http_port"].default
    listening = int(environment(spec).get(f"{prefix}_HTTP_PORT", default_port))
    assert port["containerPort"] == listening
    assert environment(spec)[f"{prefix}_HTTP_HOST"] == "0.0.0.0"
    app = built_app(service)
    wanted = {"startupProbe": "/health/live", "livenessProbe": "/health/live"}
    wanted["readinessProbe"] = "/health/ready"
    for probe, path in wanted.items():
        http = spec[probe]["httpGet"]
        assert http["path"] == path, (service, probe)
        assert http["port"] in (port["name"], port["containerPort"]), (service, probe)
        assert serves(app, path), (service, path)
    assert not serves(app, "/health/nowhere")


@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_is_a_setting_the_service_reads(service: str) -> None:
    """A misspelt variable would be silently ignored by pydantic-settings: refuse it here."""
    fields = set(settings_class(service).model_fields)
    prefix = f"{service.upper()}_"
    for name in environment(container(service)):
        if name.startswith(prefix):
            assert name.removeprefix(prefix).lower() in fields, name
        else:
            assert name in kafka_variables(), name


def test_the_topics_job_reads_kafka_settings_only() -> None:
    (spec,) = pod_spec(BY_KIND_NAME[("Job", "iop-topics")])["containers"]
    assert set(environment(spec)) <= kafka_variables()
    replication = environment(spec)
    assert replication["KAFKA_REPLICATION_FACTOR"] == "3"
    assert replication["KAFKA_MIN_INSYNC_REPLICAS"] == "2"


@pytest.mark.parametrize("manifest", WORKLOAD_MANIFESTS, ids=label)
def test_pods_run_as_a_numeric_non_root_user_with_a_read_only_root(manifest: Manifest) -> None:
    spec = pod_spec(manifest)
    pod = spec["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == USER
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    mounted_tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for each in spec["containers"]:
        context = each["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] == USER
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        # Read-only root: Python's tempfile needs a writable /tmp.
        tmp = [m for m in each["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert len(tmp) == 1 and tmp[0]["name"] in mounted_tmp


@pytest.mark.parametrize("manifest", WORKLOAD_MANIFESTS, ids=label)
def test_every_container_requests_cpu_and_memory_and_caps_memory(manifest: Manifest) -> None:
    for each in pod_spec(manifest)["containers"]:
        resources = each["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]), label(manifest)
        assert "memory" in resources["limits"], label(manifest)


def cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_the_scheduler_requests_one_core_per_solver_worker() -> None:
    spec = container("scheduler")
    workers = int(environment(spec)["SCHEDULER_SOLVE_WORKERS"])
    assert cores(spec["resources"]["requests"]["cpu"]) == workers


def test_schedulers_never_outnumber_the_enrollment_partitions() -> None:
    """Each replica owns whole partitions of iop.enrollment.v1 (whole regions); one more than
    the partitions would own nothing."""
    assert 1 <= workload("scheduler")["spec"]["replicas"] <= topics.PARTITIONS[topics.ENROLLMENT]


def test_a_disruption_takes_one_scheduler_at_a_time() -> None:
    budget = BY_KIND_NAME[("PodDisruptionBudget", "iop-scheduler")]
    assert budget["spec"]["maxUnavailable"] == 1
    labels = workload("scheduler")["spec"]["template"]["metadata"]["labels"]
    selector = budget["spec"]["selector"]["matchLabels"]
    assert selector.items() <= labels.items()


def test_each_notifier_replica_keeps_its_ledger_on_its_own_volume() -> None:
    notifier = workload("notifier")
    (claim,) = notifier["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert notifier["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    spec = container("notifier")
    ledger = Path(environment(spec)["NOTIFIER_LEDGER_PATH"])
    (mount,) = [m for m in spec["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    # SQLite's WAL and journal files live beside the ledger: its directory is the volume.
    assert ledger.parent == Path(mount["mountPath"])
    assert pod_spec(notifier)["securityContext"]["fsGroup"] == USER


# --- Secrets: referenced, never inlined, documented for the operator ---------------------------


def secret_references() -> dict[tuple[str, str], bool]:
    """(Secret, key) -> optional, over every container of every workload."""
    references: dict[tuple[str, str], bool] = {}
    for manifest in WORKLOAD_MANIFESTS:
        for each in pod_spec(manifest)["containers"]:
            assert all("secretRef" not in source for source in each.get("envFrom", []))
            for entry in each.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] == entry["name"], entry
                    references[(ref["name"], ref["key"])] = bool(ref.get("optional", False))
    return references


def documented_secrets() -> dict[tuple[str, str], bool]:
    """docs/operations.md's table of the Secrets the operator creates: (Secret, key) -> optional."""
    documented: dict[tuple[str, str], bool] = {}
    for line in OPERATIONS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not re.fullmatch(r"`iop-[a-z-]+`", cells[0]):
            continue
        for key in re.findall(r"`([A-Z_]+)`", cells[1]):
            documented[(cells[0].strip("`"), key)] = cells[-1] == "optional"
    return documented


def test_every_secret_is_created_by_the_operator_as_documented() -> None:
    references = secret_references()
    assert {name for name, _ in references} >= {
        "iop-intake",
        "iop-clinic",
        "iop-kafka-sasl",
        "iop-notifier-smtp",
        "iop-notifier-sms",
    }
    assert documented_secrets() == references


def test_no_secret_value_is_written_in_the_manifests() -> None:
    assert not [m for m in RENDERED if m["kind"] == "Secret"]
    secretish = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEYS|DIGEST_KEY|USERNAME")
    for data in CONFIG_MAPS.values():
        assert not [key for key in data if secretish.search(key)]
    for manifest in WORKLOAD_MANIFESTS:
        for each in pod_spec(manifest)["containers"]:
            for entry in each.get("env", []):
                if secretish.search(entry["name"]):
                    assert "secretKeyRef" in entry["valueFrom"], entry["name"]
