//! `cargo xtask real-core`: runs a real Home Assistant Core against the supervisor and shows
//! what Core's `hassio` integration thinks of the supervisor's answers.
//!
//! The Core fixture (`crates/core-fixture`) only does what we taught it; the real Core is the
//! client the supervisor exists for. This task
//!
//! 1. makes sure the engine has the image `supervisor-real-core:<HA_VERSION>` (a Debian 13
//!    image of [`debian_image`], since Core needs Python 3.13): a container of Debian 13 with
//!    Python and a compiler (for the few requirements PyPI has no wheel of) installs
//!    `homeassistant==<HA_VERSION>` from PyPI into the virtual environment `/opt/homeassistant`
//!    together with the requirements of every integration Core sets up on its own at start
//!    (found from the wheel's `bootstrap.py` and manifests, pinned by its
//!    `package_constraints.txt`), so that Core starts offline; its command is
//!    `python3 -m homeassistant --config /config`;
//! 2. builds the binaries and runs the ignored black-box test `real_core`
//!    (tests/e2e/real_core.rs), which publishes the image as Core's in a private registry, lets
//!    the daemon install and start it, and reports every complaint of Core's `hassio`
//!    integration.

use crate::debian_image::{self, Recipe};
use anyhow::bail;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The Home Assistant Core from PyPI the image holds: the newest release that installs on
/// Debian 13's Python 3.13 (later ones need a newer Python).
pub const HA_VERSION: &str = "2026.2.3";
/// What the e2e test reads to find the image (it defaults to the same name).
const IMAGE_ENV: &str = "SUPERVISOR_REAL_CORE_IMAGE";
/// Python, its virtual environments, a compiler and headers for the requirements without a
/// wheel for Python 3.13 (`lru-dict`), certificates and time zones.
const PACKAGES: &str = "python3,python3-venv,python3-dev,gcc,libc6-dev,ca-certificates,tzdata";
const VENV: &str = "/opt/homeassistant";
const PATH: &str = "/opt/homeassistant/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Run in the build container as `sh build.sh <version>`: the virtual environment, the wheel,
/// the requirements Core needs at start, all installed in one resolution under Core's
/// constraints (so that Core finds each pinned requirement satisfied and installs nothing).
const BUILD_SH: &str = r#"set -eu
build=$(dirname "$0")
export PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off PIP_DEFAULT_TIMEOUT=180
python3 -m venv /opt/homeassistant
pip=/opt/homeassistant/bin/pip
work=$(mktemp -d)
echo "downloading homeassistant==$1"
$pip download --no-deps --dest "$work" "homeassistant==$1"
/opt/homeassistant/bin/python3 "$build/requirements.py" "$work"/homeassistant-*.whl "$work"
echo "installing homeassistant==$1 and: $(tr '\n' ' ' < "$work/requirements.txt")"
$pip install --constraint "$work/constraints.txt" --requirement "$work/requirements.txt" "homeassistant==$1"
rm -rf "$work" /root/.cache
/opt/homeassistant/bin/python3 -m homeassistant --version
"#;

/// Run in the build container: from Core's wheel, the requirements of every integration that
/// Core sets up without configuration (the default and Supervisor sets of `bootstrap.py`, plus
/// `http`, which the test configures), closed over their dependencies, after-dependencies and
/// discovery integrations as Core's requirement check walks them; those of its authentication
/// modules and of its configuration check; and Core's constraints.
const REQUIREMENTS_PY: &str = r#"import ast, json, sys, zipfile

wheel, out = sys.argv[1], sys.argv[2]
archive = zipfile.ZipFile(wheel)
names = set(archive.namelist())


def source(path):
    return archive.read("homeassistant/" + path).decode()


def manifest(domain):
    path = f"homeassistant/components/{domain}/manifest.json"
    return json.loads(archive.read(path)) if path in names else None


def assignments(module):
    for node in ast.parse(module).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    yield target.id, node.value


def strings(node):
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


# isal: not set up, but with its package aiohttp compresses as in Core's own image (and says
# nothing about falling back to zlib).
start = {"homeassistant", "http", "hassio", "isal"}
for name, value in assignments(source("bootstrap.py")):
    if name in ("CORE_INTEGRATIONS", "DEFAULT_INTEGRATIONS", "DEFAULT_INTEGRATIONS_SUPERVISOR"):
        start.update(strings(value))
discovery = {}
for name, value in assignments(source("requirements.py")):
    if name == "DISCOVERY_INTEGRATIONS":
        discovery = ast.literal_eval(value)

seen, todo, requirements = set(), sorted(start), set()
while todo:
    domain = todo.pop()
    info = None if domain in seen else manifest(domain)
    if info is None:
        continue
    seen.add(domain)
    requirements.update(info.get("requirements", []))
    todo.extend(info.get("dependencies", []) + info.get("after_dependencies", []))
    todo.extend(check for check, keys in discovery.items() if any(key in info for key in keys))

# Core's own modules that install requirements when they load: the authentication modules
# (loaded at every start) and the configuration check the supervisor runs.
for path in sorted(names):
    if path.endswith(".py") and (path.startswith("homeassistant/auth/") or path == "homeassistant/scripts/check_config.py"):
        for name, value in assignments(archive.read(path).decode()):
            if name == "REQUIREMENTS":
                requirements.update(strings(value))

with open(f"{out}/requirements.txt", "w") as file:
    file.write("".join(f"{line}\n" for line in sorted(requirements)))
with open(f"{out}/constraints.txt", "w") as file:
    file.write(source("package_constraints.txt"))
print("integrations set up at start:", " ".join(sorted(seen)))
"#;

/// The image's name.
pub fn image() -> String {
    format!("supervisor-real-core:{HA_VERSION}")
}

/// Makes sure the image exists, builds the binaries and runs the test.
pub fn run(root: &Path) -> anyhow::Result<()> {
    crate::test_tools::ensure()?;
    let image = image();
    let started = Instant::now();
    let changes = [
        format!("ENV PATH={PATH}"),
        format!("ENV VIRTUAL_ENV={VENV}"),
        "ENV LANG=C.UTF-8".to_owned(),
        "WORKDIR /config".to_owned(),
        "CMD [\"python3\", \"-m\", \"homeassistant\", \"--config\", \"/config\"]".to_owned(),
        format!("LABEL io.hass.version={HA_VERSION}"),
        "LABEL io.hass.type=core".to_owned(),
    ];
    debian_image::ensure(&Recipe {
        suite: "trixie",
        image: &image,
        speaker: "real-core",
        packages: PACKAGES,
        files: &[("build.sh", BUILD_SH), ("requirements.py", REQUIREMENTS_PY)],
        args: &[HA_VERSION],
        changes: &changes,
        expected: "10 minutes or more",
    })?;
    println!("real-core: image ready after {}", debian_image::minutes(started.elapsed()));
    let started = Instant::now();
    println!("real-core: == building the binaries");
    crate::run(root, "cargo", &["build", "--workspace", "--bins"])?;
    println!("real-core: == running the real Core test (several minutes)");
    let args = ["test", "-p", "e2e", "--test", "e2e", "real_core", "--", "--ignored", "--nocapture"];
    eprintln!("+ {IMAGE_ENV}={image} cargo {}", args.join(" "));
    let status = Command::new("cargo").args(args).env(IMAGE_ENV, &image).current_dir(root).status()?;
    println!("real-core: test finished after {}", debian_image::minutes(started.elapsed()));
    if !status.success() {
        bail!("the real Core test failed: {status}");
    }
    Ok(())
}
