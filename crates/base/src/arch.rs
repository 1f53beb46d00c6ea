//! The machine the supervisor runs on, in Home Assistant's vocabulary: the architecture
//! (`amd64`, `aarch64`, ...) and the machine type (`generic-x86-64`, ...) that select images and
//! versions.

/// The architecture of this build, as image names spell it.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "i386",
        "aarch64" => "aarch64",
        "arm" => "armv7",
        other => other,
    }
}

/// The architectures whose images run here: the native one first, then those it can execute.
pub fn supported_archs() -> Vec<&'static str> {
    match arch() {
        "amd64" => vec!["amd64", "i386"],
        "aarch64" => vec!["aarch64", "armv7", "armhf"],
        "armv7" => vec!["armv7", "armhf"],
        other => vec![other],
    }
}

/// The machine type used when none is configured.
pub fn default_machine() -> &'static str {
    match arch() {
        "amd64" => "generic-x86-64",
        "i386" => "qemux86",
        "aarch64" => "generic-aarch64",
        _ => "qemuarm",
    }
}
