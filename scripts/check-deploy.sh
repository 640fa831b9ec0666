#!/usr/bin/env bash
# Validates the deployment files without a Docker engine or a Kubernetes cluster:
#
#   deploy/docker-compose.yml   `docker compose config -q` when a compose v2 client exists, else a
#                               YAML parse with compose interpolation and structural checks
#   deploy/Dockerfile           instruction parse (dockerfile-parse) and policy checks, including an
#                               exec-form HEALTHCHECK that runs the binary's `healthcheck`
#   deploy/nginx.conf           `nginx -t` (Debian's nginx, unpacked to a temporary directory if
#                               it is not installed) plus upstreams against the compose services
#   deploy/k8s/*.yaml           schema validation (kubernetes-validate --strict, bundled schemas,
#                               offline) of each file and of `kubectl kustomize` output, plus
#                               cross-references (labels, selectors, names, probes, the Secret
#                               mounted as files and every *_FILE variable naming one of its keys)
#   deploy/dingtalk-oidc.service  `systemd-analyze verify` and `systemd-analyze security --offline`;
#                               every *_FILE variable names a LoadCredential= credential
#   metrics port                server.metrics_listen's port is the container port `metrics`, the
#                               prometheus.io/port annotation, exposed (not published) in compose,
#                               in the Dockerfile's EXPOSE, loopback in the systemd unit; the
#                               Service and nginx do not serve it
#   grace periods               Kubernetes' terminationGracePeriodSeconds (after the preStop pause),
#                               Compose's stop_grace_period and systemd's TimeoutStopSec cover the
#                               shutdown drain (server.shutdown_accept_secs + shutdown_drain_secs)
#   everything above + docs/    every DINGTALK_OIDC_* variable and `section.option` name exists
#                               in deploy/config.example.toml; relative links in docs/ resolve
#
# Installs what it needs with pip (PyYAML, dockerfile-parse, kubernetes-validate) when missing.
# Exits non-zero when any check fails; prints each check it made.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

failures=0
ok() { printf '  ok    %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; failures=$((failures + 1)); }
skip() { printf '  skip  %s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------------------------------------
section "tools"
PY=${PYTHON:-python3}
need_pip=()
"$PY" -c 'import yaml' 2>/dev/null || need_pip+=(PyYAML)
"$PY" -c 'import dockerfile_parse' 2>/dev/null || need_pip+=(dockerfile-parse)
"$PY" -c 'import kubernetes_validate' 2>/dev/null || need_pip+=(kubernetes-validate)
if ((${#need_pip[@]})); then
  echo "  installing with pip: ${need_pip[*]}"
  "$PY" -m pip install --quiet --disable-pip-version-check "${need_pip[@]}" >/dev/null
fi
ok "python $("$PY" -c 'import sys; print(sys.version.split()[0])'), PyYAML, dockerfile-parse, kubernetes-validate $("$PY" -m kubernetes_validate --version)"

# A throwaway env file with the site settings (the secrets are files: compose `secrets:`).
cat >"$TMP/check.env" <<'EOF'
DINGTALK_OIDC_ISSUER=https://id.example.com
DINGTALK_OIDC_DINGTALK__CLIENT_ID=dingcheckclientid
DINGTALK_OIDC_DINGTALK__CORP_ID=dingcheckcorpid
EOF

# ---------------------------------------------------------------------------------------------
section "deploy/docker-compose.yml"
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1 && docker-compose version --short 2>/dev/null | grep -q '^v\?2'; then
  compose=(docker-compose)
fi
if ((${#compose[@]})); then
  if OIDC_ENV_FILE="$TMP/check.env" "${compose[@]}" --env-file "$TMP/check.env" \
      -f deploy/docker-compose.yml config -q; then
    ok "${compose[*]} config -q"
  else
    fail "${compose[*]} config -q"
  fi
else
  skip "no compose v2 client here ('docker compose' is not installed): using the Python checks below"
fi

# ---------------------------------------------------------------------------------------------
# Everything else that Python can check, in one run. Prints ok/FAIL lines and exits with the
# number of failures.
set +e
CHECK_TMP="$TMP" "$PY" - <<'PY'
import json, os, re, subprocess, sys, tomllib
from pathlib import Path

import yaml

ROOT = Path.cwd()
TMP = Path(os.environ["CHECK_TMP"])
failures = 0

def ok(msg):
    print(f"  ok    {msg}")

def fail(msg):
    global failures
    failures += 1
    print(f"  FAIL  {msg}")

def check(cond, msg, detail=""):
    if cond:
        ok(msg)
    else:
        fail(msg + (f": {detail}" if detail else ""))
    return cond

def section(name):
    print(f"\n== {name}")

def load_env(path):
    env = {}
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env

# ---- config options known to the provider (from the documented example) ---------------------
example = (ROOT / "deploy/config.example.toml").read_text()
tomllib.loads(example)  # must parse
options, table = set(), ""
for raw in example.splitlines():
    m = re.match(r"^\[([a-z_]+)\]\s*$", raw)
    if m:
        table = m.group(1)
        options.add(table)
        continue
    m = re.match(r"^#?\s?([a-z_][a-z0-9_]*) = ", raw)
    if m:
        options.add(f"{table}.{m.group(1)}" if table else m.group(1))
tables = {o for o in options if "." not in o and f"[{o}]" in example}
NON_OPTION_VARS = {"CONFIG", "REQUIRE_SERVICES"}  # the CLI's --config; the test suite

# ---- compose ----------------------------------------------------------------------------------
section("deploy/docker-compose.yml (structure)")
COMPOSE = ROOT / "deploy/docker-compose.yml"
compose_text = COMPOSE.read_text()
try:
    compose = yaml.safe_load(compose_text)
    ok("YAML parses (anchors and merge keys resolved)")
except yaml.YAMLError as e:
    fail(f"YAML parse: {e}")
    compose = None

INTERP = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")

class Missing(Exception):
    pass

def interpolate(value, env):
    if isinstance(value, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value
    def repl(m):
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        val = env.get(name)
        unset_or_empty = val is None or (op and op.startswith(":") and val == "")
        if op in (":-", "-"):
            return arg if unset_or_empty else val
        if op in (":?", "?"):
            if unset_or_empty:
                raise Missing(f"{name}: {arg}")
            return val
        return val or ""
    return INTERP.sub(repl, value)

SERVICE_KEYS = set("""annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command
configs container_name cpu_count cpu_percent cpu_period cpu_quota cpu_rt_period cpu_rt_runtime cpu_shares
cpus cpuset credential_spec depends_on deploy develop device_cgroup_rules devices dns dns_opt dns_search
domainname entrypoint env_file environment expose extends external_links extra_hosts gpus group_add
healthcheck hostname image init ipc isolation labels label_file links logging mac_address mem_limit
mem_reservation mem_swappiness memswap_limit network_mode networks oom_kill_disable oom_score_adj pid
pids_limit platform ports post_start pre_stop privileged profiles provider pull_policy read_only restart
runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls
tmpfs tty ulimits use_api_socket user userns_mode uts volumes volumes_from working_dir""".split())
TOP_KEYS = {"version", "name", "services", "networks", "volumes", "secrets", "configs", "include", "models"}

if compose is not None:
    env = load_env(TMP / "check.env")
    env["OIDC_ENV_FILE"] = str(TMP / "check.env")
    try:
        rendered = interpolate(compose, env)
        ok("interpolates with the required variables set")
    except Missing as e:
        fail(f"interpolation: {e}")
        rendered = None
    # Secrets are files (compose `secrets:`), never ${...} substitutions from the env file.
    substituted = sorted({m for m in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", compose_text)
                          if re.search(r"SECRET|PASSWORD|KEK|TOKEN|_AUTH$", m)})
    check(not substituted, "no secret is substituted from the env file", ", ".join(substituted))

    if rendered is not None:
        top = {k for k in rendered if not k.startswith("x-")}
        check(top <= TOP_KEYS, "top-level keys are compose keys", f"unknown {sorted(top - TOP_KEYS)}")
        services = rendered.get("services") or {}
        declared_volumes = set((rendered.get("volumes") or {}).keys())
        for name, svc in services.items():
            unknown = set(svc) - SERVICE_KEYS
            if unknown:
                fail(f"service {name}: unknown keys {sorted(unknown)}")
            if not (svc.get("image") or svc.get("build")):
                fail(f"service {name}: neither image nor build")
            build = svc.get("build")
            if isinstance(build, dict):
                ctx = (COMPOSE.parent / build.get("context", ".")).resolve()
                dockerfile = ctx / build.get("dockerfile", "Dockerfile")
                if not dockerfile.is_file():
                    fail(f"service {name}: build.dockerfile {dockerfile} missing")
            deps = svc.get("depends_on") or {}
            deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
            for dep, spec in deps.items():
                if dep not in services:
                    fail(f"service {name}: depends_on unknown service {dep}")
                    continue
                cond = (spec or {}).get("condition", "service_started")
                if cond not in {"service_started", "service_healthy", "service_completed_successfully"}:
                    fail(f"service {name}: depends_on {dep}: bad condition {cond}")
                if cond == "service_healthy" and "healthcheck" not in services[dep]:
                    fail(f"service {name}: waits for {dep} to be healthy, but {dep} has no healthcheck")
            for vol in svc.get("volumes") or []:
                src = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
                if src.startswith((".", "/")):
                    if not (COMPOSE.parent / src).exists():
                        fail(f"service {name}: bind mount source {src} missing")
                elif src and src not in declared_volumes:
                    fail(f"service {name}: volume {src} not declared at top level")
            for port in svc.get("ports") or []:
                if not re.fullmatch(r"(?:(?:[\d.]+|\[[0-9a-f:]+\]):)?\d+(?:-\d+)?:\d+(?:-\d+)?(?:/(?:tcp|udp))?", str(port)):
                    fail(f"service {name}: port {port!r} malformed")
            env_files = svc.get("env_file") or []
            for ef in [env_files] if isinstance(env_files, str) else env_files:
                ef = ef if isinstance(ef, str) else ef.get("path")
                if not (COMPOSE.parent / ef).is_file():
                    fail(f"service {name}: env_file {ef} missing")
        ok(f"services: {', '.join(services)}")
        ok("service keys, depends_on targets and conditions, healthchecks, mounts, ports, env files")

        # No secret is written in the file itself.
        secretish = re.compile(r"SECRET|PASSWORD|KEK|TOKEN|_AUTH$")
        leaks = []
        for name, svc in (compose.get("services") or {}).items():
            envmap = svc.get("environment") or {}
            if isinstance(envmap, list):
                envmap = dict(e.split("=", 1) if "=" in e else (e, None) for e in envmap)
            for k, v in envmap.items():
                if v is None:
                    continue
                v = str(v)
                # *_FILE variables hold paths (checked below), not secrets.
                if secretish.search(k) and not k.endswith("_FILE") and "${" not in v:
                    leaks.append(f"{name}.{k}")
                if re.search(r"://[^/@\s]*:[^/@\s$]+@", v):
                    leaks.append(f"{name}.{k} (password in URL)")
        for flag in re.findall(r"--requirepass\s*\n?\s*-?\s*([^\n]+)", compose_text):
            if "/run/secrets/" not in flag:
                leaks.append("redis --requirepass")
        check(not leaks, "no literal secrets in the environment or commands", ", ".join(leaks))

        # Every *_FILE variable names a compose secret the service mounts, declared as a file
        # under deploy/secrets/ (git-ignored); no service sets a secret option directly.
        declared_secrets = rendered.get("secrets") or {}
        bad = []
        for name, svc in services.items():
            mounted = {x if isinstance(x, str) else x.get("source") for x in svc.get("secrets") or []}
            for m in sorted(mounted - set(declared_secrets)):
                bad.append(f"{name} mounts undeclared secret {m}")
            for k, v in (svc.get("environment") or {}).items():
                if k.endswith("_FILE"):
                    m = re.fullmatch(r"/run/secrets/([A-Za-z0-9._-]+)", str(v))
                    if not m or m.group(1) not in mounted:
                        bad.append(f"{name}.{k}={v} is not /run/secrets/<a secret the service mounts>")
                elif k.startswith("DINGTALK_OIDC_") and (secretish.search(k) or k.endswith(("DATABASE__URL", "REDIS__URL"))):
                    bad.append(f"{name}.{k} sets a secret in the environment")
        for sname, spec in declared_secrets.items():
            src = str((spec or {}).get("file", ""))
            if not src.startswith("./secrets/"):
                bad.append(f"secret {sname}: file {src!r} is not under deploy/secrets/")
        ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "deploy/secrets/kek"]).returncode == 0
        check(not bad and ignored and declared_secrets,
              f"secrets are files ({', '.join(declared_secrets)}), mounted where the *_FILE variables "
              "point, under the git-ignored deploy/secrets/",
              "; ".join(bad) + ("" if ignored else " deploy/secrets/ is not git-ignored"))

        instances = {n: s for n, s in services.items() if (s.get("command") or [None])[0] == "serve"}
        check(len(instances) == 3, "three provider instances run `serve`", f"found {sorted(instances)}")
        envs = [json.dumps([s.get("env_file"), s.get("environment")], sort_keys=True) for s in instances.values()]
        check(len(set(envs)) == 1, "the instances share one configuration (one issuer)")
        migrate = [n for n, s in services.items() if (s.get("command") or [None])[0] == "migrate"]
        check(len(migrate) == 1, "a one-shot `migrate` service")
        waits = all((s.get("depends_on") or {}).get(migrate[0], {}).get("condition") == "service_completed_successfully"
                    for s in instances.values()) if migrate else False
        check(waits, "every instance waits for the migration to complete")
        for s in instances.values():
            listen = (s.get("environment") or {}).get("DINGTALK_OIDC_SERVER__LISTEN", "")
        instance_port = listen.rsplit(":", 1)[-1] if listen else ""
        check(instance_port == "8080", "instances listen on 0.0.0.0:8080", listen)

        # nginx: mounts deploy/nginx.conf and its upstreams are exactly the instances.
        nginx_conf = (ROOT / "deploy/nginx.conf").read_text()
        upstreams = re.findall(r"^\s*server\s+([A-Za-z0-9_.-]+):(\d+)", nginx_conf, re.M)
        names = {h for h, _ in upstreams}
        check(names == set(instances) and all(p == instance_port for _, p in upstreams),
              "nginx upstreams = the three instances, same port", f"{upstreams} vs {sorted(instances)}")
        lb = [n for n, s in services.items() if any("nginx.conf" in str(v) for v in s.get("volumes") or [])]
        check(len(lb) == 1, f"load balancer service mounts deploy/nginx.conf ({', '.join(lb)})")

# ---- Dockerfile --------------------------------------------------------------------------------
section("deploy/Dockerfile")
from dockerfile_parse import DockerfileParser
dfp = DockerfileParser(path=str(TMP / "Dockerfile"))
dfp.content = (ROOT / "deploy/Dockerfile").read_text()
instructions = dfp.structure
KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
         "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL", "COMMENT"}
bad = [i["instruction"] for i in instructions if i["instruction"] not in KNOWN]
check(not bad, f"{len([i for i in instructions if i['instruction'] != 'COMMENT'])} instructions, all known", str(bad))
first = next(i for i in instructions if i["instruction"] not in {"COMMENT", "ARG"})
check(first["instruction"] == "FROM", "first instruction (after ARGs) is FROM")
stages, current = [], None
for ins in instructions:
    if ins["instruction"] == "FROM":
        m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?\s*$", ins["value"], re.I)
        current = {"image": m.group(1), "name": m.group(2), "ins": []}
        stages.append(current)
    elif current is not None:
        current["ins"].append(ins)
check(len(stages) >= 2, f"multi-stage: {' -> '.join(s['name'] or s['image'] for s in stages)}")
names = [s["name"] for s in stages]
for idx, stage in enumerate(stages):
    for ins in stage["ins"]:
        if ins["instruction"] in {"COPY", "ADD"}:
            m = re.search(r"--from=(\S+)", ins["value"])
            if m:
                if m.group(1) not in names[:idx]:
                    fail(f"COPY --from={m.group(1)}: no earlier stage of that name")
            else:
                parts = [p for p in ins["value"].split() if not p.startswith("--")]
                for src in parts[:-1]:
                    if not (ROOT / src).exists():
                        fail(f"{ins['instruction']} {src}: not in the build context (repository root)")
ok("COPY sources exist in the build context; COPY --from names earlier stages")
builder = stages[0]["image"]
args = {}
for ins in instructions:
    if ins["instruction"] == "ARG" and "=" in ins["value"]:
        k, v = ins["value"].split("=", 1)
        args[k.strip()] = v.strip()
builder_image = re.sub(r"\$\{?([A-Z_]+)\}?", lambda m: args.get(m.group(1), "?"), builder)
m = re.match(r"rust:(\d+)\.(\d+)", builder_image)
cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())
need = tuple(int(x) for x in cargo["package"]["rust-version"].split(".")[:2])
check(bool(m) and (int(m.group(1)), int(m.group(2))) >= need,
      f"builder {builder_image} meets rust-version {cargo['package']['rust-version']}")
runs = " ".join(i["value"] for i in stages[0]["ins"] if i["instruction"] == "RUN")
check("cargo build --release --locked" in runs, "builds with cargo build --release --locked")
final = stages[-1]["ins"]
def last(kind):
    vals = [i["value"] for i in final if i["instruction"] == kind]
    return vals[-1] if vals else None
user = last("USER") or ""
check(user and user.split(":")[0] not in {"root", "0"}, f"runtime runs as non-root (USER {user})")
check("8080" in (last("EXPOSE") or ""), "EXPOSE 8080")
try:
    entry = json.loads(last("ENTRYPOINT") or "null")
    cmd = json.loads(last("CMD") or "null")
except json.JSONDecodeError:
    entry = cmd = None
check(isinstance(entry, list) and entry and entry[0].endswith("/dingtalk-oidc"), f"ENTRYPOINT exec form: {entry}")
check(cmd == ["serve"], f"CMD {cmd}")
hc = last("HEALTHCHECK") or ""
hc_cmd = None
m = re.search(r"\bCMD\s+(\[.*\])\s*$", hc, re.S)
if m:
    try:
        hc_cmd = json.loads(m.group(1))
    except json.JSONDecodeError:
        pass
check(isinstance(hc_cmd, list) and isinstance(entry, list) and hc_cmd[:1] == entry[:1] and "healthcheck" in hc_cmd[1:],
      f"HEALTHCHECK exec form runs the binary's `healthcheck`: {hc_cmd}", hc)

# ---- Kubernetes ---------------------------------------------------------------------------------
section("deploy/k8s")
K8S = ROOT / "deploy/k8s"
docs = {}
for f in sorted(K8S.glob("*.yaml")):
    try:
        docs[f.name] = [d for d in yaml.safe_load_all(f.read_text()) if d]
    except yaml.YAMLError as e:
        fail(f"{f.name}: YAML: {e}")
manifests = [f for f in sorted(K8S.glob("*.yaml")) if f.name != "kustomization.yaml"]
kv = [sys.executable, "-m", "kubernetes_validate"]
for version in ["1.37.0", "1.30.0"]:
    r = subprocess.run(kv + ["--strict", "--quiet", "-k", version] + [str(f) for f in manifests],
                       capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and "ERROR" not in out,
          f"kubernetes-validate --strict against Kubernetes {version}: {', '.join(f.name for f in manifests)}", out)

kust = docs.get("kustomization.yaml", [{}])[0]
resources = kust.get("resources", [])
missing = [r for r in resources if not (K8S / r).is_file()]
check(not missing, f"kustomization resources exist: {', '.join(resources)}", str(missing))
check("secret.example.yaml" not in resources, "kustomization leaves the example Secret out")
unlisted = [f.name for f in manifests if f.name not in resources and f.name != "secret.example.yaml"]
check(not unlisted, "every manifest is listed in kustomization.yaml", str(unlisted))
kubectl = subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True, text=True).stdout.strip()
if kubectl:
    r = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True)
    if check(r.returncode == 0, "kubectl kustomize deploy/k8s renders", r.stderr.strip()):
        (TMP / "kustomized.yaml").write_text(r.stdout)
        r2 = subprocess.run(kv + ["--strict", "--quiet", str(TMP / "kustomized.yaml")], capture_output=True, text=True)
        out = (r2.stdout + r2.stderr).strip()
        check(r2.returncode == 0 and "ERROR" not in out, "rendered kustomization validates (--strict)", out)
else:
    print("  skip  kubectl not installed: kustomize rendering not checked")

by_kind = {}
for name, ds in docs.items():
    for d in ds:
        by_kind.setdefault(d.get("kind"), []).append(d)
dep = (by_kind.get("Deployment") or [{}])[0]
spec = dep.get("spec", {})
pod = spec.get("template", {}).get("spec", {})
pod_labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
c = (pod.get("containers") or [{}])[0]
check(spec.get("replicas") == 3, "Deployment: 3 replicas")
check(spec.get("selector", {}).get("matchLabels", {}).items() <= pod_labels.items(), "Deployment selector matches its pods")
check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "readiness probe GET /readyz")
check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "liveness probe GET /healthz")
psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
check(psc.get("runAsNonRoot") is True and csc.get("readOnlyRootFilesystem") is True
      and csc.get("allowPrivilegeEscalation") is False and "ALL" in csc.get("capabilities", {}).get("drop", []),
      "non-root, read-only root filesystem, no privilege escalation, all capabilities dropped")
check(bool(c.get("resources", {}).get("requests")) and bool(c.get("resources", {}).get("limits")), "resources set")
ports = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
check(ports.get("http") == 8080, "container port http = 8080")
pdb = (by_kind.get("PodDisruptionBudget") or [{}])[0].get("spec", {})
check(pdb.get("minAvailable") == 2 and pdb.get("selector", {}).get("matchLabels", {}).items() <= pod_labels.items(),
      "PodDisruptionBudget minAvailable 2, selects the pods")
svc = (by_kind.get("Service") or [{}])[0].get("spec", {})
check(svc.get("selector", {}) and svc["selector"].items() <= pod_labels.items()
      and all(p.get("targetPort") in ports or p.get("targetPort") in ports.values() for p in svc.get("ports", [])),
      "Service selects the pods and targets their port")
cm_names = {d["metadata"]["name"] for d in by_kind.get("ConfigMap", [])}
secret_names = {d["metadata"]["name"] for d in by_kind.get("Secret", [])}
job = (by_kind.get("Job") or [{}])[0]
jc = (job.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [{}])[0]
check(jc.get("args") == ["migrate"], "migration Job runs `migrate`")
cm = (by_kind.get("ConfigMap") or [{}])[0].get("data", {})
sec = (by_kind.get("Secret") or [{}])[0].get("stringData", {})
# The *_FILE variables (in the ConfigMap both pods read) name files of the mounted Secret.
file_vars = {k: v for k, v in cm.items() if k.endswith("_FILE")}
for who, cont, pod_spec in [("Deployment", c, pod), ("Job", jc, job.get("spec", {}).get("template", {}).get("spec", {}))]:
    refs = cont.get("envFrom", [])
    cms = {r["configMapRef"]["name"] for r in refs if "configMapRef" in r}
    check(cms and cms <= cm_names and not any("secretRef" in r for r in refs)
          and not any("valueFrom" in e for e in cont.get("env", [])),
          f"{who} takes its settings from ConfigMap {sorted(cms)} and no secret into its environment")
    volumes = {v.get("name"): v for v in pod_spec.get("volumes", [])}
    mounts = [mt for mt in cont.get("volumeMounts", [])
              if (volumes.get(mt.get("name")) or {}).get("secret", {}).get("secretName") in secret_names]
    if not check(len(mounts) == 1 and mounts[0].get("readOnly") is True,
                 f"{who} mounts Secret {sorted(secret_names)} read-only", str(mounts)):
        continue
    mount_path = mounts[0]["mountPath"].rstrip("/")
    secret_volume = volumes[mounts[0]["name"]]["secret"]
    readable = (pod_spec.get("securityContext", {}).get("fsGroup") is not None
                and secret_volume.get("defaultMode", 0o644) & 0o040) or secret_volume.get("defaultMode", 0o644) & 0o004
    check(readable, f"{who}: the non-root user can read the mounted files (fsGroup with group-readable mode)")
    wrong = [f"{k}={v}" for k, v in file_vars.items()
             if v.rsplit("/", 1)[0] != mount_path or v.rsplit("/", 1)[-1] not in sec]
    check(file_vars and not wrong,
          f"{who}: {len(file_vars)} *_FILE variables point into {mount_path} at keys of secret.example.yaml",
          "; ".join(wrong))
check(c.get("image") == jc.get("image"), "Deployment and Job use the same image")
secretish = re.compile(r"SECRET|KEK$|TOKEN|PASSWORD|DATABASE__URL$|REDIS__URL$")
check(not [k for k in cm if secretish.search(k) and not k.endswith("_FILE")]
      and all(v.startswith("/") for v in file_vars.values())
      and not any(re.search(r"://[^/@]*:[^/@]+@", v) for v in cm.values()),
      "ConfigMap holds no secrets (only the *_FILE paths to them)")
check(all("REPLACE" in v for v in sec.values()), "secret.example.yaml holds placeholders only")
unread = sorted(set(sec) - {v.rsplit("/", 1)[-1] for v in file_vars.values()})
check({"kek", "dingtalk-client-secret", "database-url", "redis-url", "admin-token"} <= set(sec) and not unread,
      "secret.example.yaml has the KEK, the DingTalk secret, the database and Redis URLs and the admin token, "
      "each read through a *_FILE variable", f"keys no variable names: {unread}")

# ---- metrics port: off the public port, the same number everywhere -------------------------------
section("metrics port (server.metrics_listen)")
unit_text = (ROOT / "deploy/dingtalk-oidc.service").read_text()
def port_of(addr):
    m = re.fullmatch(r"\s*(?:\[[0-9a-fA-F:.]+\]|[^:\s]+):(\d+)\s*", str(addr or ""))
    return int(m.group(1)) if m else None

k8s_metrics = port_of(cm.get("DINGTALK_OIDC_SERVER__METRICS_LISTEN"))
annotations = spec.get("template", {}).get("metadata", {}).get("annotations", {}) or {}
if check(k8s_metrics is not None, f"ConfigMap sets DINGTALK_OIDC_SERVER__METRICS_LISTEN (port {k8s_metrics})"):
    check(ports.get("metrics") == k8s_metrics,
          f"container port `metrics` = {ports.get('metrics')} = the ConfigMap's metrics port {k8s_metrics}")
    check(annotations.get("prometheus.io/scrape") == "true"
          and str(annotations.get("prometheus.io/port")) == str(k8s_metrics)
          and annotations.get("prometheus.io/path") == "/metrics",
          f"pod annotations scrape port {annotations.get('prometheus.io/port')} path /metrics")
    check(k8s_metrics != port_of(cm.get("DINGTALK_OIDC_SERVER__LISTEN")), "metrics port differs from the public port")
    exposed = [p_ for p_ in svc.get("ports", []) if p_.get("targetPort") in ("metrics", k8s_metrics)]
    check(not exposed, "the Service does not expose the metrics port", str(exposed))

if compose is not None and rendered is not None:
    for name, svc_ in (rendered.get("services") or {}).items():
        if (svc_.get("command") or [None])[0] != "serve":
            continue
        envmap = {k: str(v) for k, v in (svc_.get("environment") or {}).items()}
        mport = port_of(envmap.get("DINGTALK_OIDC_SERVER__METRICS_LISTEN"))
        expose = {int(str(e).split("/")[0]) for e in svc_.get("expose") or []}
        published = [p_ for p_ in svc_.get("ports") or [] if str(p_).split("/")[0].rsplit(":", 1)[-1] == str(mport)]
        check(mport is not None and mport in expose and not published,
              f"Compose {name}: metrics on port {mport}, exposed on the compose network {sorted(expose)}, not published")

dockerfile_expose = set((last("EXPOSE") or "").split())
if k8s_metrics is not None:
    check(str(k8s_metrics) in dockerfile_expose, f"Dockerfile EXPOSE {sorted(dockerfile_expose)} has the metrics port")

unit_metrics = re.search(r"^Environment=DINGTALK_OIDC_SERVER__METRICS_LISTEN=(\S+)", unit_text, re.M)
check(unit_metrics is not None and unit_metrics.group(1).startswith(("127.", "[::1]", "localhost")),
      f"systemd: metrics on a loopback address ({unit_metrics.group(1) if unit_metrics else 'unset'})")

nginx_text = (ROOT / "deploy/nginx.conf").read_text()
check(re.search(r"location = /metrics \{\s*return 404;", nginx_text) is not None, "nginx answers /metrics with 404")

# ---- systemd ---------------------------------------------------------------------------------------
section("deploy/dingtalk-oidc.service")
have_sd = subprocess.run(["sh", "-c", "command -v systemd-analyze"], capture_output=True).returncode == 0
if have_sd:
    # verify needs the ExecStart binary; point it at /bin/true in a copy with the same name.
    (TMP / "unit").mkdir()
    unit_copy = TMP / "unit/dingtalk-oidc.service"
    unit_copy.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", unit_text, flags=re.M))
    r = subprocess.run(["systemd-analyze", "verify", str(unit_copy)], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    check(r.returncode == 0 and not out, "systemd-analyze verify (no unknown keys, no errors)", out)
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_copy)],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([\d.]+)", r.stdout + r.stderr)
    check(m is not None and float(m.group(1)) <= 2.0,
          f"systemd-analyze security --offline: exposure {m.group(1) if m else '?'} (at most 2.0)")
else:
    print("  skip  systemd-analyze not installed")
for directive in ["LoadCredential=", "ProtectSystem=strict", "NoNewPrivileges=yes", "KillSignal=SIGTERM"]:
    if directive not in unit_text:
        fail(f"unit lacks {directive}")
check("DynamicUser=yes" in unit_text or re.search(r"^User=(?!root)\S+", unit_text, re.M),
      "LoadCredential, ProtectSystem=strict, NoNewPrivileges, SIGTERM, an unprivileged user")
credentials = set(re.findall(r"^LoadCredential=([^:\s]+):", unit_text, re.M))
unit_files = dict(re.findall(r"^Environment=(DINGTALK_OIDC_[A-Z0-9_]+_FILE)=(\S+)", unit_text, re.M))
wrong = [f"{k}={v}" for k, v in unit_files.items() if not v.startswith("%d/") or v[3:] not in credentials]
direct = re.findall(r"^Environment=DINGTALK_OIDC_\S*(?:KEK|SECRET|TOKEN|__URL)=.*$", unit_text, re.M)
check(unit_files and not wrong and not direct,
      f"systemd: {len(unit_files)} *_FILE variables name LoadCredential= credentials (%d/NAME); no secret in Environment=",
      "; ".join(wrong + direct))

# ---- shutdown: every orchestrator waits longer than the drain ---------------------------------
section("shutdown grace periods cover the drain")
def example_default(name):
    m = re.search(rf"^#?\s?{name} = (\d+)\s*$", example, re.M)
    return int(m.group(1)) if m else None

ACCEPT, DRAIN = example_default("shutdown_accept_secs"), example_default("shutdown_drain_secs")
check(ACCEPT is not None and DRAIN is not None,
      f"deploy/config.example.toml shows the drain defaults (accept {ACCEPT} s, drain {DRAIN} s)")

def drain_secs(env, where):
    """server.shutdown_accept_secs + server.shutdown_drain_secs for a provider with environment `env`."""
    accept = int(env.get("DINGTALK_OIDC_SERVER__SHUTDOWN_ACCEPT_SECS", ACCEPT or 0))
    drain = env.get("DINGTALK_OIDC_SERVER__SHUTDOWN_DRAIN_SECS")
    if drain is None:
        # The default drain follows these timeouts (src/drain.rs); this script does not redo the sum.
        changed = [k for k in ("DINGTALK_OIDC_DINGTALK__TIMEOUT_MS", "DINGTALK_OIDC_LOGOUT__BACKCHANNEL_TIMEOUT_MS")
                   if k in env]
        if changed:
            fail(f"{where}: {changed[0]} is set: set DINGTALK_OIDC_SERVER__SHUTDOWN_DRAIN_SECS too, "
                 "so that the grace period can be checked against the drain")
            return None
        drain = DRAIN or 0
    return accept + int(drain)

UNITS = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
def seconds(text):
    """A compose (Go) or systemd duration: 45s, 1m30s, 1min 30s, 45."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", str(text))
    if not parts or any(unit not in UNITS for _, unit in parts):
        return None
    return sum(float(n) * UNITS[unit] for n, unit in parts)

need = drain_secs(cm, "deploy/k8s/configmap.yaml")
if need is not None:
    grace = pod.get("terminationGracePeriodSeconds", 30)
    pause = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
    check(grace >= pause + need,
          f"Kubernetes: terminationGracePeriodSeconds {grace} >= preStop {pause} s + drain {need} s")
for name, svc in ((compose or {}).get("services") or {}).items():
    if (svc.get("command") or [None])[0] != "serve":
        continue
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
    need = drain_secs(env, f"deploy/docker-compose.yml {name}")
    if need is not None:
        grace = seconds(svc.get("stop_grace_period", "10s"))
        check(grace is not None and grace >= need, f"Compose {name}: stop_grace_period {grace} s >= drain {need} s")
unit_env = dict(re.findall(r"^Environment=(DINGTALK_OIDC_[A-Z0-9_]+)=(\S+)", unit_text, re.M))
need = drain_secs(unit_env, "deploy/dingtalk-oidc.service")
if need is not None:
    m = re.search(r"^TimeoutStopSec=(.+)$", unit_text, re.M)
    grace = seconds(m.group(1)) if m else 90
    check(grace is not None and grace >= need, f"systemd: TimeoutStopSec {grace} s >= drain {need} s")

# ---- names used in the files and docs ---------------------------------------------------------
section("configuration names and links in deploy/ and docs/")
files = [p for p in [*ROOT.glob("deploy/*"), *ROOT.glob("deploy/k8s/*"), *ROOT.glob("docs/*.md")]
         if p.is_file() and p.suffix not in {".toml"}]
bad_vars, bad_opts, seen_vars, seen_opts = [], [], set(), set()
for p in files:
    text = p.read_text(errors="replace")
    for var in re.findall(r"\bDINGTALK_OIDC_([A-Z0-9_]*[A-Z0-9])\b", text):
        if var in NON_OPTION_VARS:
            continue
        path = ".".join(var.lower().split("__"))
        seen_vars.add(var)
        if path not in options or path in tables:
            bad_vars.append(f"{p.relative_to(ROOT)}: DINGTALK_OIDC_{var}")
    if p.suffix == ".md":
        for sec_, opt in re.findall(r"`([a-z]+)\.([a-z_][a-z0-9_]*)`", text):
            if sec_ in tables:
                seen_opts.add(f"{sec_}.{opt}")
                if f"{sec_}.{opt}" not in options:
                    bad_opts.append(f"{p.relative_to(ROOT)}: {sec_}.{opt}")
check(not bad_vars, f"{len(seen_vars)} distinct DINGTALK_OIDC_* variables name real options", "; ".join(sorted(set(bad_vars))))
check(not bad_opts, f"{len(seen_opts)} distinct `section.option` names in docs/ are real options", "; ".join(sorted(set(bad_opts))))

# ---- links between the docs -------------------------------------------------------------------
def slug(heading):
    s = re.sub(r"[`*_]", "", heading.strip().lower())
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")

bad_links, n_links = [], 0
for p in sorted(ROOT.glob("docs/*.md")):
    for target in re.findall(r"\]\(([^)\s]+)\)", p.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        n_links += 1
        path, _, anchor = target.partition("#")
        dest = (p.parent / path).resolve() if path else p
        if not dest.exists():
            bad_links.append(f"{p.relative_to(ROOT)} -> {target} (no such file)")
        elif anchor and dest.suffix == ".md":
            heads = {slug(h) for h in re.findall(r"^#+\s+(.*)$", dest.read_text(), re.M)}
            if anchor not in heads:
                bad_links.append(f"{p.relative_to(ROOT)} -> {target} (no such heading)")
check(not bad_links, f"{n_links} relative links in docs/ resolve (files and headings)", "; ".join(bad_links))

sys.exit(min(failures, 100))
PY
py_failures=$?
set -e
failures=$((failures + py_failures))

# ---------------------------------------------------------------------------------------------
section "deploy/nginx.conf (nginx -t)"
NGINX=$(command -v nginx || true)
if [[ -z "$NGINX" ]] && command -v apt-get >/dev/null 2>&1; then
  # Debian's nginx, unpacked (not installed: nothing is started, no service is configured).
  if (cd "$TMP" && apt-get download nginx >/dev/null 2>&1) && dpkg-deb -x "$TMP"/nginx_*.deb "$TMP/nginx-root"; then
    NGINX="$TMP/nginx-root/usr/sbin/nginx"
    echo "  (using $("$NGINX" -v 2>&1 | sed 's/.*: //') unpacked from Debian's package)"
  fi
fi
if [[ -n "$NGINX" ]]; then
  T="$TMP/nginx"
  mkdir -p "$T/logs"
  # The compose service names do not resolve here: point the upstreams at loopback, and keep
  # nginx's temporary files in the test directory. Nothing else is changed.
  sed -E \
    -e 's/^([[:space:]]*server[[:space:]]+)oidc-[0-9]+:/\1127.0.0.1:/' \
    -e "s#^http \\{#http {\\n    client_body_temp_path $T/body; proxy_temp_path $T/proxy; fastcgi_temp_path $T/fastcgi; uwsgi_temp_path $T/uwsgi; scgi_temp_path $T/scgi;#" \
    deploy/nginx.conf >"$T/nginx.conf"
  if out=$("$NGINX" -t -q -p "$T" -c "$T/nginx.conf" 2>&1); then
    ok "nginx -t"
  else
    fail "nginx -t: $out"
  fi
else
  skip "nginx not available (install Debian's nginx to check deploy/nginx.conf)"
fi

# ---------------------------------------------------------------------------------------------
section "repository hygiene"
if git -C "$ROOT" ls-files --error-unmatch deploy/.env >/dev/null 2>&1; then
  fail "deploy/.env is committed: it holds a real deployment's settings"
else
  ok "deploy/.env is not committed"
fi
if [[ -n "$(git -C "$ROOT" ls-files deploy/secrets)" ]]; then
  fail "deploy/secrets/ is committed: it holds secrets"
else
  ok "deploy/secrets/ is not committed"
fi

echo
if ((failures)); then
  echo "check-deploy: $failures check(s) failed"
  exit 1
fi
echo "check-deploy: all checks passed"
