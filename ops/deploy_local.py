"""`make deploy`: bootstrap every account/region of the configuration with cdklocal
(trusting the CI/CD account), then deploy all stacks with cdklocal from the CI/CD
account, which assumes each account's bootstrap deploy role: the normal CDK
cross-account flow, on the local cloud.

    python -m ops.deploy_local [--skip-bootstrap]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from localcloud.__main__ import health
from ops.environment import PROJECT_ROOT, client, config, endpoint_port, endpoint_url, local_state_dir, outputs_file

CDKLOCAL = PROJECT_ROOT / "node_modules" / ".bin" / "cdklocal"
BOOTSTRAP_VERSION_OUTPUT = "BootstrapVersion"
EXECUTION_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess"


def cloud_assembly_dir():
    """Per local cloud, so deploys to two of them at once (say 4566 and a test's) never mix."""
    port = endpoint_port()
    return PROJECT_ROOT / ("cdk.out" if port == 4566 else f"cdk.out.{port}")


def cdk_environment(account: str, region: str) -> dict[str, str]:
    """cdklocal strips AWS_* variables not in AWS_ENVAR_ALLOWLIST; the access key id
    selects the account on the local cloud, so it must pass."""
    endpoint = endpoint_url()
    env = dict(os.environ)
    env.update({
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_S3_FORCE_PATH_STYLE": "1",
        "AWS_ENVAR_ALLOWLIST": "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_REGION,AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID": account,
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        # A CDK home per local cloud: the CLI caches account ids per access key there.
        "CDK_HOME": str(local_state_dir() / "cdk-home"),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "NODE_NO_WARNINGS": "1",
    })
    env.pop("AWS_PROFILE", None)
    return env


def bootstrapped(account: str, region: str) -> bool:
    cloudformation = client("cloudformation", account, region)
    try:
        stack = cloudformation.describe_stacks(StackName="CDKToolkit")["Stacks"][0]
    except Exception:
        return False
    return stack["StackStatus"].endswith("_COMPLETE") and not stack["StackStatus"].startswith("DELETE")


def run(command: list[str], env: dict[str, str], label: str, cwd=PROJECT_ROOT) -> None:
    started = time.monotonic()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-6000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"{label} failed (exit {result.returncode})")
    print(f"  {label}: {time.monotonic() - started:.1f} s", flush=True)


def bootstrap(account: str, region: str, trust: str, workdir) -> None:
    if bootstrapped(account, region):
        print(f"  aws://{account}/{region}: already bootstrapped", flush=True)
        return
    run([str(CDKLOCAL), "bootstrap", f"aws://{account}/{region}", "--trust", trust,
         "--trust-for-lookup", trust, "--cloudformation-execution-policies", EXECUTION_POLICY],
        # Outside the project folder: there `cdk bootstrap` would synthesize the app
        # first, and parallel bootstraps would fight over cdk.out.
        cdk_environment(account, region), f"bootstrap aws://{account}/{region}", cwd=workdir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-bootstrap", action="store_true")
    args = parser.parse_args()

    if health(endpoint_url()) is None:
        print(f"local cloud not running on {endpoint_url()}: run `make up`", file=sys.stderr)
        return 1
    if not CDKLOCAL.exists():
        print("cdklocal not installed: run `npm ci` (make does it for you)", file=sys.stderr)
        return 1
    cfg = config()
    if cfg.delivery != "direct":
        print(f"configuration {cfg.name} deploys through its delivery pipeline; `make deploy` deploys "
              "configurations whose delivery is 'direct' (config/local.json)", file=sys.stderr)
        return 1
    started = time.monotonic()
    environments = sorted({(cfg.backbone.account, region) for region in cfg.regions}
                          | {(app.account, app.region) for app in cfg.applications})
    if not args.skip_bootstrap:
        bootstrap_dir = local_state_dir() / "bootstrap"
        bootstrap_dir.mkdir(parents=True, exist_ok=True)
        print(f"bootstrapping {len(environments)} environments (trusting CI/CD account {cfg.cicd.account})", flush=True)
        with ThreadPoolExecutor(max_workers=len(environments)) as pool:
            list(pool.map(lambda e: bootstrap(e[0], e[1], cfg.cicd.account, bootstrap_dir), environments))
    print(f"deploying all stacks as CI/CD account {cfg.cicd.account} through each account's deploy role", flush=True)
    outputs = outputs_file()
    outputs.parent.mkdir(parents=True, exist_ok=True)
    run([str(CDKLOCAL), "deploy", "--all", "--require-approval", "never", "--concurrency", "5",
         "--output", str(cloud_assembly_dir()),
         "--outputs-file", str(outputs), "--progress", "events"],
        cdk_environment(cfg.cicd.account, cfg.cicd.region), "deploy --all")
    print(f"deployed in {time.monotonic() - started:.1f} s; outputs in {outputs}")
    warn_about_runtime_versions(health(endpoint_url()) or {})
    return 0


def warn_about_runtime_versions(document: dict) -> None:
    """Functions whose declared runtime is not the interpreter the local cloud runs them on."""
    for mismatch in (document.get("lambda_runtimes") or {}).get("mismatches", []):
        print(f"warning: {mismatch['warning']} ({mismatch['functions']} function(s)); code that needs "
              f"{mismatch['runtime']} fails locally, code that only works on {mismatch['local']} passes locally "
              "and fails on AWS", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
