"""The board: catalog components (rows) x environments (columns, dev -> test -> prod, then
the others), each cell what runs there, read from the database only (releases, targets,
runs, secrets) so the board never waits on a cluster. Rollout health is the last one read
(``refresh_health``, called by the board's background fragment, with the page timeout) and
is shown with its age. Actions go through the deploys services: the same refusals, prod
confirmation and audit as the API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.core.cache import cache
from django.utils import timezone

from catalog.models import Entity
from envs.deploys import services as deploys
from envs.deploys.components import normalize_component, short
from envs.deploys.connection import has_connection
from envs.deploys.images import image_parts
from envs.deploys.models import Release, Target
from envs.deploys.promotions import TIER_ORDER, same_image
from envs.deploys.status import live_status
from envs.models import Environment
from envs.secrets.models import Secret
from portal.errors import Invalid
from portal.runs.choices import ACTIVE
from portal.runs.models import Run

DEPLOY_KINDS = ("deploy", "rollback", "promote", "restart")
HEALTH_KEY = "board:health:{pk}"
HEALTH_KEEP = 7 * 86400  # last known health outlives a cluster outage
ROLLBACK_CHOICES = 10


def ordered_environments() -> list[Environment]:
    """dev, test, prod (by name within a tier), then every other tier."""
    rank = {tier: i for i, tier in enumerate(TIER_ORDER)}
    return sorted(Environment.objects.all(),
                  key=lambda e: (rank.get(e.tier, len(rank)), e.tier, e.name))


def next_environments(env: Environment, envs: list[Environment]) -> list[Environment]:
    """Where ``env`` promotes to: the environments of the next tier."""
    if env.tier not in TIER_ORDER or env.tier == TIER_ORDER[-1]:
        return []
    nxt = TIER_ORDER[TIER_ORDER.index(env.tier) + 1]
    return [e for e in envs if e.tier == nxt]


def slug(ref: str) -> str:
    """An HTML id part for a component reference."""
    return "".join(c if c.isalnum() else "-" for c in short(ref))


@dataclass
class Cell:
    env: Environment
    component: str
    target: Target | None = None
    live: Release | None = None
    run: Run | None = None  # an action in progress
    failed: Run | None = None  # the newest action, when it failed after the live release
    pending_from: list[str] = field(default_factory=list)  # left neighbours running other
    promote_to: list[Environment] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)  # rollback choices
    missing: list[str] = field(default_factory=list)
    health: dict | None = None
    cluster: bool = False
    error: str = ""

    @property
    def tag(self) -> str:
        if self.live is None:
            return ""
        _repo, tag, digest = image_parts(self.live.image)
        return tag or (digest[7:19] if digest else self.live.image)

    @property
    def verb(self) -> str:
        action = self.live.action if self.live else ""
        return {"deploy": "deployed", "promote": "promoted", "rollback": "rolled back"}.get(
            action, "released")

    @property
    def short_digest(self) -> str:
        digest = (self.live.digest if self.live else "") or ""
        return digest[7:19] if digest.startswith("sha256:") else ""

    @property
    def id(self) -> str:
        return f"cell-{self.env.name}-{slug(self.component)}"

    @property
    def deploy_disabled(self) -> str:
        """Why Deploy and Rollback cannot work here ('' when they can)."""
        return "" if self.cluster else no_cluster(self.env)

    @property
    def promotions(self) -> list[dict]:
        """Where Promote goes, each with why it cannot work there ('' when it can)."""
        return [{"env": to, "disabled": "" if has_connection(to) else no_cluster(to)}
                for to in self.promote_to]


@dataclass
class Row:
    component: str
    entity: Entity | None
    cells: list[Cell]
    repository: str = ""
    tags: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return short(self.component)

    @property
    def id(self) -> str:
        return f"row-{slug(self.component)}"

    @property
    def active(self) -> bool:
        return any(c.run is not None for c in self.cells)


def health_of(env: Environment) -> dict | None:
    """The last rollout health read for ``env``: {"read_at", "components": {ref: {ready,
    replicas}}, "error", "unreachable_since"}, or None when never read."""
    return cache.get(HEALTH_KEY.format(pk=env.pk))


def refresh_health(env: Environment) -> dict:
    """Read the environment's workloads (page timeout, cached briefly by deploys) and keep
    the readiness of each target's workload as the last known health."""
    if not has_connection(env):
        return {"components": {}, "read_at": None, "error": "", "no_cluster": True}
    before = health_of(env) or {}
    status = live_status(env)
    now = timezone.now()
    if status.get("error"):
        known = dict(before) if before else {"components": {}, "read_at": None}
        known["error"] = status["error"]
        known["unreachable_since"] = before.get("unreachable_since") or now
        known["tried_at"] = now
    else:
        components = {}
        for target in env.deploy_targets.all():
            ns = target.effective_namespace()
            for w in status.get("workloads", []):
                if w["namespace"] != ns:
                    continue
                kubero = f"KuberoApp/{target.kuberoapp}"
                if (target.deployment and w["name"] == target.deployment) or (
                        target.kuberoapp and w.get("managed_by") == kubero):
                    components[target.component] = {"ready": w.get("ready", 0),
                                                    "replicas": w.get("replicas", 0)}
        known = {"components": components, "read_at": now, "error": "",
                 "unreachable_since": None, "tried_at": now}
    cache.set(HEALTH_KEY.format(pk=env.pk), known, HEALTH_KEEP)
    return known


def _missing(keys: list | None, secrets: set[str], live: Release | None) -> list[str]:
    if not isinstance(keys, list):
        return []
    provided = set(secrets)
    if live is not None and isinstance(live.env, dict):
        provided |= set(live.env.get("plain") or {}) | set(live.env.get("refs") or {})
    return sorted({str(k) for k in keys} - provided)


def build(only: str | None = None) -> tuple[list[Environment], list[Row]]:
    """The board from the database (a fixed number of queries, whatever its size);
    ``only``: one component's row."""
    envs = ordered_environments()
    entities = {e.ref: e for e in Entity.objects.filter(kind="component").only(
        "ref", "name", "namespace", "title", "config_keys")}
    targets = {(t.environment_id, t.component): t for t in Target.objects.all()}
    refs = sorted(set(entities) | {c for (_e, c) in targets})
    if only is not None:
        refs = [r for r in refs if r == only]
    live = {(r.environment_id, r.component): r for r in Release.objects.filter(
        status=Release.Status.LIVE).order_by("id")}
    history: dict[tuple[int, str], list[Release]] = {}
    for r in Release.objects.filter(status=Release.Status.SUPERSEDED).order_by("-id")[:2000]:
        bucket = history.setdefault((r.environment_id, r.component), [])
        if len(bucket) < ROLLBACK_CHOICES:
            bucket.append(r)
    # The newest deploy-kind run per (environment, component): in progress, or failed.
    newest: dict[tuple[str, str], Run] = {}
    for run in Run.objects.filter(kind__in=DEPLOY_KINDS).order_by("-id")[:500]:
        key = (run.target, str((run.params or {}).get("component", "")))
        newest.setdefault(key, run)
    secrets: dict[int, set[str]] = {}
    for env_id, name in Secret.objects.values_list("environment_id", "name"):
        secrets.setdefault(env_id, set()).add(name)
    rows = []
    for ref in refs:
        entity = entities.get(ref)
        cells = []
        for env in envs:
            cell = Cell(env=env, component=ref, target=targets.get((env.pk, ref)),
                        live=live.get((env.pk, ref)),
                        releases=history.get((env.pk, ref), []),
                        cluster=has_connection(env))
            last = newest.get((env.target, ref))
            if last is not None and last.status in ACTIVE:
                cell.run = last
            elif last is not None and last.status == "failed" and (
                    cell.live is None or cell.live.run_id is None or last.pk > cell.live.run_id):
                cell.failed = last
            cell.missing = _missing(entity.config_keys if entity else None,
                                    secrets.get(env.pk, set()), cell.live)
            health = health_of(env)
            if health is not None:
                cell.health = {**health, "here": (health.get("components") or {}).get(ref)}
            cell.promote_to = next_environments(env, envs) if cell.live else []
            cells.append(cell)
        for cell in cells:  # pending: a previous-tier environment runs another image
            for src in cells:
                if cell.env in next_environments(src.env, envs) and src.live and (
                        cell.live is None or not same_image(cell.live, src.live)) and \
                        cell.target is not None:
                    cell.pending_from.append(src.env.name)
        repo = next((image_parts(c.live.image)[0] for c in cells if c.live), "")
        tags = sorted({image_parts(r.image)[1] for c in cells
                       for r in ([c.live] if c.live else []) + c.releases} - {""})
        rows.append(Row(component=ref, entity=entity, cells=cells, repository=repo,
                        tags=tags))
    return envs, rows


def no_cluster(env: Environment) -> str:
    return f"No cluster connection in {env.name}: set one in Deploys"


def age(moment: datetime | None) -> float | None:
    return (timezone.now() - moment).total_seconds() if moment else None


# --- actions: the deploys services -----------------------------------------------------------

def environment(name: str) -> Environment:
    env = Environment.objects.filter(name=name).first()
    if env is None:
        raise Invalid(detail=f"environment: no environment named {name!r}",
                      fields={"environment": [f"no environment named {name!r}"]})
    return env


def image_for(component: str, value: str) -> str:
    """A tag (``1.4.2``) becomes the component's repository (its newest release's) with that
    tag; a full reference is taken as it is."""
    value = (value or "").strip()
    if "/" in value or "@" in value or not value:
        return value
    latest = Release.objects.filter(component=component).order_by("-id").first()
    if latest is None:
        raise Invalid(detail="tag: no earlier release names the repository: give the full "
                      "image (registry/repository:tag)",
                      fields={"tag": ["give the full image (registry/repository:tag)"]})
    return f"{image_parts(latest.image)[0]}:{value.lstrip(':')}"


def deploy(env: Environment, component: str, tag: str, request, *, confirm: str | None,
           reason: str = "") -> Run:
    ref = _component(component)
    return deploys.start_deploy(env, ref, image_for(ref, tag), request, confirm=confirm,
                                reason=reason or "from the board")


def promote(source: Environment, component: str, to: Environment, request, *,
            confirm: str | None) -> Run:
    return deploys.start_promote(to, _component(component), source.name, request,
                                 confirm=confirm, reason=f"promoted from {source.name} "
                                 "on the board")


def rollback(env: Environment, component: str, release_id: int, request, *,
             confirm: str | None) -> Run:
    return deploys.start_rollback(env, _component(component), release_id, request,
                                  confirm=confirm)


def _component(value: str) -> str:
    try:
        return normalize_component(value)
    except ValueError as exc:
        raise Invalid(detail=f"component: {exc}", fields={"component": [str(exc)]}) from None
