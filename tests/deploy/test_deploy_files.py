"""The files under deploy/: Prometheus snippets, compose, Kubernetes, systemd, Dockerfile.

promtool checks the Prometheus configs, systemd-analyze verifies the unit against the
installed console script, the promalert configs they carry load with the real loader,
and the compose file and manifests are checked for the wiring that makes them work
(mounted files exist, selectors match, ports line up, nothing runs as root).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from promalert.config.loader import load_config
from promalert.config.schema import config_schema

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMALERT = Path(sys.executable).with_name("promalert")


def tool(name: str) -> str:
    """Path of a command-line tool, or skip the test naming the package to install."""
    found = shutil.which(name) or shutil.which(name, path="/usr/bin:/bin")
    if found is None:
        package = {"promtool": "prometheus", "systemd-analyze": "systemd"}[name]
        pytest.skip(f"{name} is not installed (Debian package {package})")
    return found


@pytest.mark.parametrize(
    "path",
    [
        "prometheus/scrape-promalert.yml",
        "prometheus/alerting.yml",
        "prometheus/prometheus.yml",
        "compose/prometheus.yml",
    ],
)
def test_promtool_accepts_the_prometheus_configs(path: str) -> None:
    result = subprocess.run(
        [tool("promtool"), "check", "config", str(DEPLOY / path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_snippets_scrape_promalert_and_send_it_alerts() -> None:
    scrape = yaml.safe_load((DEPLOY / "prometheus/scrape-promalert.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == "promalert" and job["honor_labels"] is True
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9099"]
    alerting = yaml.safe_load((DEPLOY / "prometheus/alerting.yml").read_text())
    (manager,) = alerting["alerting"]["alertmanagers"]
    assert manager["api_version"] == "v2"
    assert manager["static_configs"][0]["targets"] == ["127.0.0.1:9099"]


def _copy_with_rules(config_text: str, rules: dict[str, str], folder: Path) -> Path:
    (folder / "rules").mkdir(parents=True)
    for name, text in rules.items():
        (folder / "rules" / name).write_text(text)
    path = folder / "promalert.yml"
    path.write_text(config_text)
    return path


def _schema_errors(text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(config_schema())
    return [e.message for e in validator.iter_errors(yaml.safe_load(text))]


# ------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    """deploy/compose.yml as data."""
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    return data


def test_compose_runs_prometheus_grafana_promalert_and_the_workload() -> None:
    services = compose()["services"]
    assert set(services) == {"prometheus", "grafana", "promalert", "workload"}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every address"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):  # a bind mount of a file or folder in this repository
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
    assert services["promalert"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (DEPLOY / services["promalert"]["build"]["context"] / "pyproject.toml").exists()


def test_the_compose_workload_serves_the_demo_workload() -> None:
    workload = compose()["services"]["workload"]
    assert workload["entrypoint"] == ["python", "-c"]
    (code,) = workload["command"]
    compile(code, "workload", "exec")
    assert "from promalert.demo.workload import workload_app" in code
    from promalert.demo.workload import workload_app  # the name the container imports

    assert callable(workload_app)


def test_compose_prometheus_scrapes_the_services_compose_defines() -> None:
    prometheus = yaml.safe_load((DEPLOY / "compose/prometheus.yml").read_text())
    services = set(compose()["services"])
    targets = [
        target
        for job in prometheus["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    targets += prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert {t.split(":")[0] for t in targets} <= services


def test_the_compose_promalert_config_loads(tmp_path: Path) -> None:
    text = (DEPLOY / "compose/promalert.yml").read_text()
    assert _schema_errors(text) == []
    path = _copy_with_rules(text, {"demo.yml": (ROOT / "rules/demo.yml").read_text()}, tmp_path)
    config = load_config(path, env={"PROMETHEUS_URL": "http://prometheus:9090"})
    assert config.server.listen == "0.0.0.0:9099"
    assert config.route.routes[0].escalation in config.escalation_policies


def test_grafana_provisioning_matches_the_compose_mounts() -> None:
    grafana = compose()["services"]["grafana"]
    providers = yaml.safe_load(
        (ROOT / "grafana/provisioning/dashboards/promalert.yml").read_text()
    )["providers"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    (provider,) = providers
    assert mounted[provider["options"]["path"]] == "../grafana/dashboards"
    datasources = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/promalert.yml").read_text()
    )["datasources"]
    assert datasources[0]["type"] == "prometheus"
    assert datasources[0]["url"] == "${PROMETHEUS_URL}"
    assert grafana["environment"]["PROMETHEUS_URL"] == "http://prometheus:9090"


# ---------------------------------------------------------------------- kubernetes


def manifests() -> dict[str, dict[str, Any]]:
    """Every Kubernetes object under deploy/kubernetes, by kind."""
    objects: dict[str, dict[str, Any]] = {}
    kustomization = yaml.safe_load((DEPLOY / "kubernetes/kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()):
            assert doc["kind"] not in objects, doc["kind"]
            objects[doc["kind"]] = doc
    listed = set(kustomization["resources"]) | {"kustomization.yaml"}
    assert {p.name for p in (DEPLOY / "kubernetes").iterdir()} == listed
    return objects


def test_kubernetes_manifests_parse_and_fit_together() -> None:
    objects = manifests()
    kinds = {"Deployment", "Service", "ConfigMap", "ServiceMonitor", "PodDisruptionBudget"}
    assert kinds <= set(objects)
    deployment = objects["Deployment"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        objects["Service"]["spec"]["selector"],
        objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= pod_labels.items()
    monitor = objects["ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        objects["Service"]["metadata"]["labels"].items()
    )
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in objects["Service"]["spec"]["ports"]} <= port_names
    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= {
        p["name"] for p in objects["Service"]["spec"]["ports"]
    }
    assert deployment["spec"]["replicas"] == 1  # SQLite: a single writer
    assert deployment["spec"]["strategy"]["type"] == "Recreate"


def test_the_kubernetes_pod_runs_hardened_as_non_root() -> None:
    pod = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/-/healthy"


def test_the_kubernetes_config_loads(tmp_path: Path) -> None:
    data = manifests()["ConfigMap"]["data"]
    assert _schema_errors(data["promalert.yml"]) == []
    path = _copy_with_rules(data["promalert.yml"], {"rules.yml": data["rules.yml"]}, tmp_path)
    config = load_config(path, env={})
    assert config.server.listen == "0.0.0.0:9099"
    assert config.storage_path() == Path("/var/lib/promalert/promalert.db")


# ------------------------------------------------------------------------- systemd


def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    if not PROMALERT.exists():
        pytest.skip(f"the promalert console script is not installed at {PROMALERT}")
    text = (DEPLOY / "systemd/promalert.service").read_text()
    assert "ExecStart=/opt/promalert/bin/promalert run" in text
    unit = tmp_path / "promalert.service"
    unit.write_text(text.replace("/opt/promalert/bin/promalert", str(PROMALERT)))
    result = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # verify exits 0 on ignored (misspelt, malformed) settings; it names the file for those.
    assert [line for line in output.splitlines() if unit.name in line] == []


def test_the_unit_is_hardened(tmp_path: Path) -> None:
    analyze = tool("systemd-analyze")
    text = (DEPLOY / "systemd/promalert.service").read_text()
    settings = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#"
    )
    assert settings["ProtectSystem"] == "strict"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["StateDirectory"] == "promalert"
    assert settings["User"] != "root"
    unit = tmp_path / "promalert.service"
    unit.write_text(text)
    # Exposure 0 (locked down) .. 10 (unprotected); the unit scores about 1.3.
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--threshold=30", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------- Dockerfile


def instructions(path: Path) -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line.removesuffix("\\").strip() + " "
        if not line.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            out.append((keyword.upper(), args.strip()))
            pending = ""
    return out


def test_the_dockerfile_installs_the_package_and_runs_as_non_root() -> None:
    steps = instructions(DEPLOY / "docker/Dockerfile")
    stages = [args for keyword, args in steps if keyword == "FROM"]
    assert stages and all(s.split()[0] == "python:3.11-slim" for s in stages)
    copies = [args for keyword, args in steps if keyword == "COPY"]
    assert "src ./src" in copies and "pyproject.toml README.md ./" in copies
    runs = " ".join(args for keyword, args in steps if keyword == "RUN")
    assert "/opt/promalert/bin/pip install ." in runs
    assert "useradd --system --uid 10001" in runs
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    assert ("COPY", "--from=build /opt/promalert /opt/promalert") in final
    users = [args for keyword, args in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (k, _) in enumerate(final) if k == "USER")
    assert all(k != "RUN" for k, _ in final[last_user:])  # nothing after USER runs as root
    entry = dict(final)
    assert entry["ENTRYPOINT"] == '["promalert"]'
    assert entry["CMD"] == '["run", "--config", "/etc/promalert/promalert.yml"]'
    for copied in ("pyproject.toml", "README.md", "src/promalert/__init__.py"):
        assert (ROOT / copied).exists(), copied
