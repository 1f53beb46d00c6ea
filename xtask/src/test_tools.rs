//! The Debian packages the black-box tests run: a static busybox (the base image's only
//! program), `docker-registry` (the tests start their own registries) and `htpasswd` from
//! `apache2-utils` (their logins), `systemd-journal-remote` (journal files and the
//! systemd-journal-gatewayd serving them, for the journal tests), `dbus` (the private bus of the
//! D-Bus tests), `zstd` (the backup tests' reference) and `pulseaudio` with `pulseaudio-utils`
//! (the sound server the audio plugin's image is made of, which crates/pulse tests against, and
//! the `paplay`/`parecord` applications they play and record with), and `apparmor` (whose
//! `apparmor_parser` compiles the fixture add-ons' profiles, which must refuse a broken one even
//! where the kernel has no AppArmor), and `chromium` with `chromium-driver` (the headless browser
//! the admin UI's tests drive over WebDriver), and `iptables` (the gateway firewall's rules, which
//! the host tests apply in a network namespace of their own), and `etcd-server` (the etcd the
//! harness starts its clusters of, for the etcd client's and the fleet controller's tests). Each
//! is installed with
//! `apt-get` only when missing. Also, from PyPI, each in a virtual environment: the Python `securetar` library,
//! for the SecureTar interoperability tests, and schemathesis, which fuzzes the API through its
//! OpenAPI document (tests/e2e/fuzz_api.rs).

use anyhow::{bail, Context};
use std::path::Path;
use std::process::Command;

/// The busybox the base image is made of; Debian's `busybox-static` installs it here.
pub const BUSYBOX: &str = "/bin/busybox";
const REGISTRY: &str = "/usr/bin/docker-registry";
const HTPASSWD: &str = "/usr/bin/htpasswd";
/// Where `journal::testing` runs them from.
const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";
const GATEWAYD: &str = "/lib/systemd/systemd-journal-gatewayd";
/// The bus daemon `dbus_fixtures::PrivateBus` starts for the D-Bus tests.
const DBUS_DAEMON: &str = "/usr/bin/dbus-daemon";
/// The reference the backup tests and benchmarks compare with (`tar | zstd`), and how tests
/// read the zstd inner archives Python decrypted.
const ZSTD: &str = "/usr/bin/zstd";
/// The sound server and its test applications (crates/pulse/tests).
const PULSEAUDIO: &str = "/usr/bin/pulseaudio";
const PAPLAY: &str = "/usr/bin/paplay";
const PARECORD: &str = "/usr/bin/parecord";
/// What the supervisor checks and loads add-ons' AppArmor profiles with.
const APPARMOR_PARSER: &str = "/usr/sbin/apparmor_parser";
/// The browser the admin UI's tests run and the WebDriver server that drives it
/// (`e2e::browser`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// What the gateway firewall's unit runs; the e2e test replays its commands in a namespace.
const IPTABLES: [&str; 2] = ["/usr/sbin/iptables", "/usr/sbin/ip6tables"];
/// What `e2e::etcd::EtcdCluster` runs its members with.
const ETCD: &str = "/usr/bin/etcd";
/// The library the real Supervisor encrypts backups with, at the version
/// crates/securetar/tests/interop.rs expects it (the path holds the version, so that a new pin
/// makes a new environment).
pub(crate) const SECURETAR: &str = "securetar==2026.10.0";
pub(crate) const SECURETAR_VENV: &str = "/var/cache/supervisor-tests/securetar-2026.10.0";
/// The API fuzzer, at the version tests/e2e/fuzz_api.rs runs it from.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const SCHEMATHESIS_VENV: &str = "/var/cache/supervisor-tests/schemathesis-4.32.5";

/// Installs whatever of the tests' packages is missing.
pub fn ensure() -> anyhow::Result<()> {
    if !is_static_executable(Path::new(BUSYBOX)) {
        apt_install(&["busybox-static"])?;
        if !is_static_executable(Path::new(BUSYBOX)) {
            bail!("{BUSYBOX} is still not a static executable after installing busybox-static");
        }
    }
    if !Path::new(REGISTRY).exists() || !Path::new(HTPASSWD).exists() {
        apt_install(&["docker-registry", "apache2-utils"])?;
        stop_service("docker-registry");
    }
    if !Path::new(JOURNAL_REMOTE).exists() || !Path::new(GATEWAYD).exists() {
        apt_install(&["systemd-journal-remote"])?;
    }
    if !Path::new(DBUS_DAEMON).exists() {
        apt_install(&["dbus"])?;
    }
    if !Path::new(ZSTD).exists() {
        apt_install(&["zstd"])?;
    }
    if [PULSEAUDIO, PAPLAY, PARECORD].iter().any(|program| !Path::new(program).exists()) {
        apt_install(&["pulseaudio", "pulseaudio-utils"])?;
    }
    if !Path::new(APPARMOR_PARSER).exists() {
        apt_install(&["apparmor"])?;
    }
    if [CHROMIUM, CHROMEDRIVER].iter().any(|program| !Path::new(program).exists()) {
        apt_install(&["chromium", "chromium-driver"])?;
    }
    if IPTABLES.iter().any(|program| !Path::new(program).exists()) {
        apt_install(&["iptables"])?;
    }
    if !Path::new(ETCD).exists() {
        apt_install(&["etcd-server"])?;
        stop_service("etcd");
    }
    ensure_venv(SECURETAR_VENV, SECURETAR, "securetar")?;
    ensure_venv(SCHEMATHESIS_VENV, SCHEMATHESIS, "schemathesis")
}

/// The virtual environment `venv` with `requirement` from PyPI, made when its Python cannot
/// import `module`.
fn ensure_venv(venv: &str, requirement: &str, module: &str) -> anyhow::Result<()> {
    let python = Path::new(venv).join("bin/python");
    let imports =
        || Command::new(&python).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if imports() {
        return Ok(());
    }
    let args = ["-m", "venv", "--clear", venv];
    // Debian's Python makes virtual environments only with python3-venv installed.
    if !succeeds("python3", &args)? {
        apt_install(&["python3-venv"])?;
        if !succeeds("python3", &args)? {
            bail!("python3 -m venv {venv} failed");
        }
    }
    if !succeeds(&python.to_string_lossy(), &["-m", "pip", "install", "--quiet", requirement])? || !imports() {
        bail!("could not install {requirement} into {venv} (it needs Python 3.11 or newer)");
    }
    Ok(())
}

fn succeeds(program: &str, args: &[&str]) -> anyhow::Result<bool> {
    eprintln!("+ {program} {}", args.join(" "));
    Ok(Command::new(program).args(args).status().with_context(|| format!("running {program}"))?.success())
}

/// Whether `path` is an executable without a program interpreter, i.e. statically linked.
/// Reads the ELF program headers (64-bit little-endian, which is what Debian ships here).
fn is_static_executable(path: &Path) -> bool {
    std::fs::read(path).ok().is_some_and(|bytes| elf_interpreter(&bytes) == Some(false))
}

/// `Some(has a PT_INTERP header)` for a 64-bit little-endian ELF file, `None` for anything else.
fn elf_interpreter(bytes: &[u8]) -> Option<bool> {
    const PT_INTERP: u32 = 3;
    if bytes.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as usize);
    let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
    let offset = usize::try_from(u64::from_le_bytes(bytes.get(0x20..0x28)?.try_into().ok()?)).ok()?;
    let (size, count) = (u16_at(0x36)?, u16_at(0x38)?);
    let mut interpreter = false;
    for index in 0..count {
        interpreter |= u32_at(offset + index * size)? == PT_INTERP;
    }
    Some(interpreter)
}

/// `apt-get install -y`, refreshing the package lists first if the install fails.
fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    if apt_get(&["install", "-y"], packages)? {
        return Ok(());
    }
    eprintln!("apt-get install failed; refreshing the package lists and trying again");
    if !apt_get(&["update"], &[])? || !apt_get(&["install", "-y"], packages)? {
        bail!("could not install {} (apt-get needs root)", packages.join(" "));
    }
    Ok(())
}

fn apt_get(args: &[&str], packages: &[&str]) -> anyhow::Result<bool> {
    eprintln!("+ apt-get {} {}", args.join(" "), packages.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get")?;
    Ok(status.success())
}

/// A package may start a service of its own (the registry on port 5000, etcd on 2379); the tests
/// want none. Best effort: without systemd (containers, most CI) the package's start is usually
/// refused by policy, and failures change nothing for the tests, which run their own on free
/// ports.
fn stop_service(name: &str) {
    if Path::new("/run/systemd/system").exists() {
        quietly("systemctl", &["disable", "--now", name]);
    } else if Path::new(&format!("/etc/init.d/{name}")).exists() {
        quietly(&format!("/etc/init.d/{name}"), &["stop"]);
    }
}

fn quietly(program: &str, args: &[&str]) {
    eprintln!("+ {program} {}", args.join(" "));
    match Command::new(program).args(args).status() {
        Ok(status) if status.success() => {}
        Ok(status) => eprintln!("{program} {}: {status} (ignored)", args.join(" ")),
        Err(err) => eprintln!("{program}: {err} (ignored)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF header with one program header of type `kind`.
    fn elf(kind: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; 0x40 + 0x38];
        bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
        bytes[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&0x38u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        bytes[0x40..0x44].copy_from_slice(&kind.to_le_bytes());
        bytes
    }

    #[test]
    fn interpreters_are_found_in_the_program_headers() {
        assert_eq!(elf_interpreter(&elf(1)), Some(false));
        assert_eq!(elf_interpreter(&elf(3)), Some(true));
        assert_eq!(elf_interpreter(b"#!/bin/sh\n"), None);
        assert_eq!(elf_interpreter(&elf(3)[..0x41]), None);
    }

    #[test]
    fn the_machines_own_programs_read_as_dynamic() {
        // Any dynamically linked program of the machine will do; cargo is one for sure.
        let cargo = std::env::var_os("CARGO").expect("cargo sets CARGO");
        assert!(!is_static_executable(Path::new(&cargo)));
    }
}
