//! plugin-multicast: the multicast plugin. It repeats mDNS (224.0.0.251:5353, ff02::fb) and LLMNR
//! (224.0.0.252:5355, ff02::1:3) between network interfaces, so that add-ons on the supervisor's
//! container network see and are seen by the devices of the LAN. Each packet read on one link is
//! sent out of the others, never back to its own and never when it came from this host (its own
//! repeats included), so two links joined elsewhere do not loop.
//!
//! Flags: `--interfaces a,b,...` (the supervisor passes its network's bridge and the host's
//! interfaces). Runs in the host's network; needs `CAP_NET_RAW` (in Docker's default set) to tie
//! sockets to an interface.

mod links;
mod repeater;

use repeater::Repeater;
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str = "usage: plugin-multicast --interfaces NAME,NAME[,NAME...]

Repeats mDNS and LLMNR between the named network interfaces.";

/// How often the interfaces are looked at again: addresses come and go (DHCP, IPv6 link-local
/// addresses after duplicate detection) and a bridge may be made anew.
const RESCAN: Duration = Duration::from_secs(10);

/// Linux's interface names have at most 15 bytes.
const MAX_NAME: usize = 15;

fn main() -> ExitCode {
    let names = match interfaces(std::env::args().skip(1)) {
        Ok(Some(names)) => names,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("plugin-multicast: {problem}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("plugin-multicast: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(names)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(problem) => {
            eprintln!("plugin-multicast: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// The names of `--interfaces a,b` or `--interfaces=a,b`; `None` for `--help`.
fn interfaces(mut args: impl Iterator<Item = String>) -> Result<Option<Vec<String>>, String> {
    let mut list = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--interfaces" => list = Some(args.next().ok_or("--interfaces needs a list such as hassio,eth0")?),
            _ => match arg.strip_prefix("--interfaces=") {
                Some(value) => list = Some(value.to_owned()),
                None => return Err(format!("unknown argument {arg:?}")),
            },
        }
    }
    let list = list.ok_or("--interfaces is required")?;
    let mut names: Vec<String> = Vec::new();
    for name in list.split(',').map(str::trim) {
        if name.is_empty() || name.len() > MAX_NAME || name.contains(['/', ' ', ':']) || name == "." || name == ".." {
            return Err(format!("--interfaces: {name:?} is not an interface name"));
        }
        if names.iter().any(|known| known == name) {
            return Err(format!("--interfaces: {name} is named twice"));
        }
        names.push(name.to_owned());
    }
    if names.len() < 2 {
        return Err("--interfaces needs at least two interfaces to repeat between".to_owned());
    }
    Ok(Some(names))
}

async fn run(names: Vec<String>) -> Result<(), String> {
    let mut terminate = signal(SignalKind::terminate()).map_err(|error| format!("cannot watch SIGTERM: {error}"))?;
    // An interface missing at the start is a wrong flag; later it is a bridge being made anew,
    // waited for.
    let (mut links, own) = links::inspect(&names)?;
    let mut repeater = Repeater::open(&links, own)?;
    let mut tasks = repeater.spawn();
    announce(&links);
    let mut problem: Option<String> = None;
    let mut rescan = tokio::time::interval(RESCAN);
    rescan.tick().await;
    loop {
        // As PID 1 of its container the program gets no default action for SIGTERM: without this
        // a stop would wait for the engine's kill.
        tokio::select! {
            _ = rescan.tick() => {}
            _ = terminate.recv() => return Ok(()),
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
        let outcome = match links::inspect(&names) {
            Ok((now, own)) if now == links => {
                repeater.set_own(own);
                Ok(())
            }
            // Until the new sockets are open the old ones go on; a failure is tried again at the
            // next look, as the links still differ.
            Ok((now, own)) => Repeater::open(&now, own).map(|opened| {
                repeater = opened;
                tasks = repeater.spawn();
                links = now;
                announce(&links);
            }),
            Err(problem) => Err(problem),
        };
        match outcome {
            Ok(()) => problem = None,
            Err(now) if problem.as_ref() != Some(&now) => {
                eprintln!("plugin-multicast: {now}; trying again every {} seconds", RESCAN.as_secs());
                problem = Some(now);
            }
            Err(_) => {}
        }
    }
}

fn announce(links: &[links::Link]) {
    let links: Vec<String> = links.iter().map(ToString::to_string).collect();
    eprintln!("plugin-multicast: repeating mDNS and LLMNR between {}", links.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Vec<String>>, String> {
        interfaces(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn interfaces_take_both_spellings() {
        assert_eq!(parse(&["--interfaces", "hassio,eth0"]), Ok(Some(vec!["hassio".into(), "eth0".into()])));
        assert_eq!(
            parse(&["--interfaces=hassio, eth0,wlan0"]),
            Ok(Some(vec!["hassio".into(), "eth0".into(), "wlan0".into()]))
        );
        assert_eq!(parse(&["--help"]), Ok(None));
    }

    #[test]
    fn bad_lists_name_the_problem() {
        assert_eq!(parse(&[]).unwrap_err(), "--interfaces is required");
        assert_eq!(parse(&["--interfaces"]).unwrap_err(), "--interfaces needs a list such as hassio,eth0");
        assert_eq!(
            parse(&["--interfaces", "eth0"]).unwrap_err(),
            "--interfaces needs at least two interfaces to repeat between"
        );
        assert_eq!(parse(&["--interfaces", "eth0,eth0"]).unwrap_err(), "--interfaces: eth0 is named twice");
        assert_eq!(parse(&["--interfaces", "eth0,"]).unwrap_err(), "--interfaces: \"\" is not an interface name");
        assert_eq!(
            parse(&["--interfaces", "eth0,averyveryverylongname"]).unwrap_err(),
            "--interfaces: \"averyveryverylongname\" is not an interface name"
        );
        assert_eq!(parse(&["--bridge", "x"]).unwrap_err(), "unknown argument \"--bridge\"");
    }
}
