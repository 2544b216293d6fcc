"""The deployment a team copies (Dockerfile, compose.yaml, deploy/): what can be checked here.

No Docker daemon or registry is reachable on the development machine, so the image is not
built here; these tests hold the files to the settings kb reads and to the promises of
docs/deploy.md, so that a renamed setting or a lost health check fails the build.
"""

import re

import yaml

from kb.config import FIELDS, env_name
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
SETTINGS = {env_name(name) for name in FIELDS}


def test_every_kb_variable_the_deployment_sets_is_a_setting():
    used = set(re.findall(r"\bKB_[A-Z_]+", DOCKERFILE + (ROOT / "compose.yaml").read_text()))
    assert used and used <= SETTINGS, used - SETTINGS


def test_the_replicas_share_one_store_one_snapshot_folder_and_one_redis():
    services = COMPOSE["services"]
    replicas = [services[name] for name in ("kb-1", "kb-2", "ingest")]
    shared = ("KB_DATABASE_URL", "KB_REDIS_URL", "KB_INDEX_DIR")
    for key in shared:
        values = {r["environment"][key] for r in replicas}
        assert len(values) == 1 and values != {""}, key
    assert services["kb-1"]["environment"]["KB_DATABASE_URL"].startswith("postgresql://")
    assert all("snapshots:/shared" in r["volumes"] for r in replicas)
    assert services["kb-1"]["environment"]["KB_INDEX_DIR"].startswith("/shared/")
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]
        assert services["kb-1"]["depends_on"][name]["condition"] == "service_healthy"


def test_the_balancer_sends_to_both_replicas_and_sets_the_address_kb_limits_by():
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server kb-1:8000" in conf and "server kb-2:8000" in conf
    assert "X-Forwarded-For $remote_addr" in conf  # replaces whatever the client sent
    assert COMPOSE["services"]["kb-1"]["environment"]["KB_BEHIND_PROXY"] == "1"


def test_the_image_runs_as_a_user_has_the_model_inside_and_checks_readiness():
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", DOCKERFILE, re.M)
    assert "download.pytorch.org/whl/cpu" in DOCKERFILE  # the CPU build of torch
    assert "HF_HUB_OFFLINE=1" in DOCKERFILE and "kb ingest demo/helpcentre" in DOCKERFILE
