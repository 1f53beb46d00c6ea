//! `ha os`: Home Assistant OS's information, updates, boot slots, configuration import, swap,
//! data disk and board settings, with the real CLI's commands, aliases and flags.

use crate::client::{Body, CONTAINER_DOWNLOAD_TIMEOUT, CONTAINER_OPERATION_TIMEOUT, DEFAULT_TIMEOUT};
use crate::{output, parse_bool, App};
use anyhow::{bail, Result};
use clap::{ArgAction, Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

pub const LONG_ABOUT: &str = "This command set is specifically designed for the Home Assistant Operating System
and only works on those systems. It provides an interface to get information
about your Home Assistant Operating System, but also provides command to
upgrade the operating system and the operating system CLI. Finally,
it provides a command to import configurations from an USB-stick.";

/// The group's old name, which the real CLI still takes with a notice.
pub const DEPRECATED_ALIAS: &str = "hassos";

/// The notice for a call by the old name (`ha hassos info`); the real CLI looks at the first
/// argument only.
pub fn deprecation_notice(args: &[String]) -> Option<String> {
    (args.get(1).map(String::as_str) == Some(DEPRECATED_ALIAS))
        .then(|| format!("The use of '{DEPRECATED_ALIAS}' is deprecated, please use 'os' instead!"))
}

const WIPE_PROMPT: &str = "
This will completely wipe the datadisk. This process is irreversible.
Are you sure you want to proceed?";

#[derive(Subcommand)]
pub enum Command {
    #[command(
        visible_aliases = ["in", "inf"],
        about = "Provides information about the running Home Assistant Operating System",
        long_about = "This command provides general information about the running Home Assistant Operating System.",
        after_help = "Examples:\n  ha os info"
    )]
    Info,

    #[command(
        visible_aliases = ["upgrade", "downgrade", "up", "down"],
        about = "Updates the Home Assistant Operating System",
        long_about = "Using this command you can upgrade or downgrade the Home Assistant
Operating System to the latest version or the version specified.",
        after_help = "Examples:\n  ha os update\n  ha os update --version 5"
    )]
    Update(crate::supervisor::UpdateArgs),

    #[command(
        visible_alias = "boot",
        about = "Changes the active boot slot",
        long_about = "Using this command you can change the active boot slot to rollback
an OS update without making more changes to the system.",
        after_help = "Examples:\n  ha os boot-slot other\n  ha os boot-slot A"
    )]
    BootSlot {
        /// The slot to boot: A, B, or other (the one not booted)
        slot: String,
    },

    #[command(
        visible_aliases = ["im", "sync", "load"],
        about = "Import configurations from a USB stick",
        long_about = "This commands triggers an import action from a connected USB stick with
configuration to load for the Home Assistant Operating System.",
        after_help = "Examples:\n  ha os import"
    )]
    Import,

    #[command(
        visible_aliases = ["conf", "cfg"],
        about = "Show or change Home Assistant OS settings",
        long_about = "This command allows you to show or change settings of Home Assistant OS.",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha os config swap"
    )]
    Config {
        #[command(subcommand)]
        command: Config,
    },

    #[command(
        visible_alias = "data",
        about = "Operating System DataDisk feature for managing data partition",
        long_about = "This command set is specifically designed for the Home Assistant Operating System
and only works on those systems. It provides an interface to get information
or migrating the data partition of the system to a different harddrive.",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha os datadisk list\n  ha os datadisk move /dev/sda1"
    )]
    Datadisk {
        #[command(subcommand)]
        command: Datadisk,
    },

    #[command(
        about = "See or change settings of the current board",
        long_about = "This command allows you to see or change settings of the board that Home
Assistant is running on.",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha os boards yellow"
    )]
    Boards {
        #[command(subcommand)]
        command: Boards,
    },
}

#[derive(Subcommand)]
pub enum Config {
    #[command(
        visible_alias = "sw",
        about = "Show or change Home Assistant OS swap settings",
        long_about = "This command allows you to show or change current swap configuration
of Home Assistant OS.",
        subcommand_required = true,
        arg_required_else_help = true,
        after_help = "Examples:\n  ha os config swap info"
    )]
    Swap {
        #[command(subcommand)]
        command: Swap,
    },
}

#[derive(Subcommand)]
pub enum Swap {
    #[command(
        visible_alias = "in",
        about = "Show HAOS swap settings",
        long_about = "This command allows you to see how swap is used by the Home Assistant OS.",
        after_help = "Examples:\n  ha os config swap info"
    )]
    Info,

    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Change HAOS swap settings",
        long_about = "This command allows you to override how the Home Assistant OS uses swap.",
        after_help = "Examples:\n  ha os config swap options --swap-size=2G --swappiness=10"
    )]
    Options(SwapArgs),
}

#[derive(Subcommand)]
pub enum Datadisk {
    #[command(
        visible_aliases = ["in", "inf", "info", "show"],
        about = "Provides information about the running Home Assistant Operating System",
        long_about = "This command provides general information about available Harddisk for using with Home Assistant Operating System.",
        after_help = "Examples:\n  ha os datadisk list"
    )]
    List,

    #[command(
        visible_aliases = ["migrate", "mov"],
        about = "Migrate Home Assistant Operating-System data partition",
        long_about = "This commands triggers an migration of the Home Assistant Operating-System
data partition to a new harddisk. The system reboots afterwards!",
        after_help = "Examples:\n  ha os datadisk move /dev/sda"
    )]
    Move {
        /// The disk's id or device path
        disk: String,
    },

    #[command(
        visible_aliases = ["reset", "erase"],
        about = "Wipe the Home Assistant Operating-System data partition",
        long_about = "This command will wipe all config/settings for addons, Home Assistant and the Operating
System and any locally stored data in config, backups, media, etc. The machine will
reboot during this.

After the reboot completes the latest stable version of Home Assistant and Supervisor
will be downloaded. Once the process is complete you will see onboarding, like
during initial setup.

This wipe also include network settings. So after the reboot you may need to reconfigure
those in order to access Home Assistant again.

Please note, this command is limited due to security reasons, and will
only work on some locations. For example, the Operating System CLI.",
        after_help = "Examples:\n  ha os datadisk wipe"
    )]
    Wipe,
}

#[derive(Subcommand)]
pub enum Boards {
    #[command(
        visible_alias = "yell",
        about = "See or change settings of the current Yellow board",
        long_about = "This command allows you to see or change settings of the Yellow board that Home
Assistant is running on.",
        after_help = "Examples:\n  ha os boards yellow"
    )]
    Yellow {
        #[command(subcommand)]
        command: Option<Yellow>,
    },

    #[command(
        visible_alias = "grn",
        about = "See or change settings of the current Green board",
        long_about = "This command allows you to see or change settings of the Green board that Home
Assistant is running on.",
        after_help = "Examples:\n  ha os boards green"
    )]
    Green {
        #[command(subcommand)]
        command: Option<Green>,
    },

    #[command(
        visible_alias = "rpi",
        about = "See or change settings of the current Raspberry Pi board",
        long_about = "This command allows you to see or change settings of the Raspberry Pi board that
Home Assistant is running on.",
        after_help = "Examples:\n  ha os boards raspberrypi firmware",
        subcommand_required = true,
        arg_required_else_help = true
    )]
    Raspberrypi {
        #[command(subcommand)]
        command: Raspberrypi,
    },
}

#[derive(Subcommand)]
pub enum Raspberrypi {
    #[command(
        visible_alias = "fw",
        about = "Show Raspberry Pi firmware information",
        long_about = "This command shows information about the Raspberry Pi bootloader (EEPROM) firmware,
including the currently installed and latest bundled versions and whether an update
is available. Available on Raspberry Pi 4 / 5 and Home Assistant Yellow.",
        after_help = "Examples:\n  ha os boards raspberrypi firmware"
    )]
    Firmware {
        #[command(subcommand)]
        command: Option<Firmware>,
    },
}

#[derive(Subcommand)]
pub enum Firmware {
    #[command(
        visible_aliases = ["up", "upgrade"],
        about = "Apply the bundled Raspberry Pi firmware update",
        long_about = "This command applies the bundled Raspberry Pi firmware update (bootloader EEPROM,
and VL805 where present). A reboot is required for the new firmware to take effect.",
        after_help = "Examples:\n  ha os boards raspberrypi firmware update"
    )]
    Update,
}

#[derive(Subcommand)]
pub enum Yellow {
    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Change settings of the current Yellow board",
        long_about = "This command allows you to change settings of the Yellow board that Home
Assistant is running on. A host reboot is required for changes to take effect.",
        after_help = "Examples:\n  ha os boards yellow options --heartbeat-led=false"
    )]
    Options(YellowArgs),
}

#[derive(Subcommand)]
pub enum Green {
    #[command(
        visible_aliases = ["option", "opt", "opts", "op"],
        about = "Change settings of the current Green board",
        long_about = "This command allows you to change settings of the Green board that Home
Assistant is running on.",
        after_help = "Examples:\n  ha os boards green options --activity-led=false"
    )]
    Options(GreenArgs),
}

#[derive(Args)]
pub struct SwapArgs {
    /// Swap size in bytes with optional units (K/M/G)
    #[arg(long)]
    swap_size: Option<String>,

    /// Kernel swappiness value (0-200)
    #[arg(long, allow_negative_numbers = true)]
    swappiness: Option<i64>,
}

impl SwapArgs {
    fn body(&self) -> Body {
        let mut body = Body::new();
        if let Some(size) = &self.swap_size {
            body.insert("swap_size".into(), size.clone().into());
        }
        if let Some(swappiness) = self.swappiness {
            body.insert("swappiness".into(), swappiness.into());
        }
        body
    }
}

/// Puts each LED flag that was given into the body under its API name.
fn leds(flags: [(&str, Option<bool>); 3]) -> Body {
    flags.into_iter().filter_map(|(name, on)| Some((name.to_owned(), Value::Bool(on?)))).collect()
}

#[derive(Args)]
pub struct YellowArgs {
    /// Enable/disable the disk LED
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    disk_led: Option<bool>,

    /// Enable/disable the heartbeat LED
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    heartbeat_led: Option<bool>,

    /// Enable/disable the power LED
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    power_led: Option<bool>,
}

impl YellowArgs {
    fn body(&self) -> Body {
        leds([("disk_led", self.disk_led), ("heartbeat_led", self.heartbeat_led), ("power_led", self.power_led)])
    }
}

#[derive(Args)]
pub struct GreenArgs {
    /// Enable/disable the green activity LED
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    activity_led: Option<bool>,

    /// Enable/disable the white power LED
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    power_led: Option<bool>,

    /// Enable/disable the yellow system health LED
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = parse_bool)]
    system_health_led: Option<bool>,
}

impl GreenArgs {
    fn body(&self) -> Body {
        leds([
            ("activity_led", self.activity_led),
            ("power_led", self.power_led),
            ("system_health_led", self.system_health_led),
        ])
    }
}

impl Command {
    pub async fn run(self, app: &App) -> Result<()> {
        match self {
            Command::Info => app.get(&["os", "info"]).await,
            Command::Update(args) => {
                app.run_job(&["os", "update"], args.body(), CONTAINER_DOWNLOAD_TIMEOUT, true).await
            }
            Command::BootSlot { slot } => {
                let slot = if slot == "other" { inactive_slot(app).await? } else { slot };
                let mut body = Body::new();
                body.insert("boot_slot".into(), slot.into());
                app.post(&["os", "boot-slot"], &body, DEFAULT_TIMEOUT).await
            }
            Command::Import => app.post(&["os", "config", "sync"], &Body::new(), DEFAULT_TIMEOUT).await,
            Command::Config { command: Config::Swap { command: Swap::Info } } => {
                app.get(&["os", "config", "swap"]).await
            }
            Command::Config { command: Config::Swap { command: Swap::Options(args) } } => {
                app.post(&["os", "config", "swap"], &args.body(), DEFAULT_TIMEOUT).await
            }
            Command::Datadisk { command: Datadisk::List } => app.get(&["os", "datadisk", "list"]).await,
            Command::Datadisk { command: Datadisk::Move { disk } } => {
                let mut body = Body::new();
                body.insert("device".into(), disk.into());
                app.post(&["os", "datadisk", "move"], &body, CONTAINER_OPERATION_TIMEOUT).await
            }
            Command::Datadisk { command: Datadisk::Wipe } => {
                if !output::confirm(WIPE_PROMPT)? {
                    bail!("Aborted.");
                }
                app.post(&["os", "datadisk", "wipe"], &Body::new(), DEFAULT_TIMEOUT).await
            }
            Command::Boards { command: Boards::Yellow { command: None } } => app.get(&["os", "boards", "yellow"]).await,
            Command::Boards { command: Boards::Yellow { command: Some(Yellow::Options(args)) } } => {
                app.post(&["os", "boards", "yellow"], &args.body(), DEFAULT_TIMEOUT).await
            }
            Command::Boards { command: Boards::Green { command: None } } => app.get(&["os", "boards", "green"]).await,
            Command::Boards { command: Boards::Green { command: Some(Green::Options(args)) } } => {
                app.post(&["os", "boards", "green"], &args.body(), DEFAULT_TIMEOUT).await
            }
            Command::Boards { command: Boards::Raspberrypi { command: Raspberrypi::Firmware { command: None } } } => {
                let mut reply = app.client.call(Method::GET, &RPI_FIRMWARE, &Body::new(), DEFAULT_TIMEOUT).await?;
                humanize_firmware(&mut reply.data);
                output::show(&reply, app.raw_json)
            }
            Command::Boards {
                command: Boards::Raspberrypi { command: Raspberrypi::Firmware { command: Some(Firmware::Update) } },
            } => update_rpi_firmware(app).await,
        }
    }
}

const RPI_FIRMWARE: [&str; 4] = ["os", "boards", "raspberrypi", "firmware"];

/// As the real CLI: the state first, so that a blocked, pending or needless update ends here,
/// then a confirmation naming both versions.
async fn update_rpi_firmware(app: &App) -> Result<()> {
    let info = app.client.call(Method::GET, &RPI_FIRMWARE, &Body::new(), DEFAULT_TIMEOUT).await?.data;
    let flag = |key: &str| info.get(key).and_then(Value::as_bool);
    let text = |key: &str| info.get(key).and_then(Value::as_str).filter(|text| !text.is_empty());
    if flag("update_blocked") == Some(true) {
        match text("blocked_reason") {
            Some(reason) => bail!("firmware update is blocked: {reason}"),
            None => bail!("firmware update is blocked"),
        }
    }
    if flag("update_pending") == Some(true) {
        output::write_stdout(
            b"A firmware update is already pending. Reboot the device using `ha host reboot` to finish the installation.\n",
        )?;
        return Ok(());
    }
    if flag("update_available") == Some(false) {
        let message = match text("current_version") {
            Some(current) => {
                format!("The Raspberry Pi firmware is already up to date ({}).", humanize_firmware_version(current))
            }
            None => "The Raspberry Pi firmware is already up to date.".to_owned(),
        };
        output::write_stdout(format!("{message}\n").as_bytes())?;
        return Ok(());
    }
    let prompt = match (text("current_version"), text("latest_version")) {
        (Some(current), Some(latest)) => format!(
            "This will update the Raspberry Pi firmware from {} to {} and requires a reboot to take effect.",
            humanize_firmware_version(current),
            humanize_firmware_version(latest)
        ),
        _ => "This applies the bundled Raspberry Pi firmware update and requires a reboot to take effect.".to_owned(),
    };
    if !output::confirm(&format!("{prompt} Continue?"))? {
        bail!("Aborted.");
    }
    output::write_stdout(
        b"\nApplying firmware update. Please be patient and do not unplug or power off the device.\n",
    )?;
    app.run_job(&["os", "boards", "raspberrypi", "firmware", "update"], Body::new(), CONTAINER_OPERATION_TIMEOUT, true)
        .await?;
    output::write_stdout(
        b"\nFirmware update applied. Reboot the device using `ha host reboot` to finish the installation.\n",
    )?;
    Ok(())
}

/// The version fields of the firmware state made readable; other values stay as they are.
fn humanize_firmware(data: &mut Value) {
    for key in ["current_version", "latest_version"] {
        if let Some(field) = data.get_mut(key) {
            if let Some(version) = field.as_str() {
                *field = Value::from(humanize_firmware_version(version));
            }
        }
    }
}

/// The agent's `<bootloader build time>[-<VL805 revision>]` as the real CLI shows it:
/// `2025-03-10 (VL805 000138c0)`. Anything else is shown as it is.
fn humanize_firmware_version(version: &str) -> String {
    let (timestamp, vl805) = version.split_once('-').unwrap_or((version, ""));
    let Ok(seconds) = timestamp.parse::<i64>() else { return version.to_owned() };
    let date = utc_date(seconds);
    if vl805.is_empty() {
        date
    } else {
        format!("{date} (VL805 {vl805})")
    }
}

/// The UTC calendar date of a Unix time, `YYYY-MM-DD` (the proleptic Gregorian calendar's
/// days-to-civil conversion: eras of 400 years starting on 1 March).
fn utc_date(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The boot slot that is not booted: the one `/os/info` calls inactive.
async fn inactive_slot(app: &App) -> Result<String> {
    let reply = app.client.call(Method::GET, &["os", "info"], &Body::new(), DEFAULT_TIMEOUT).await?;
    let slots = reply.data.get("boot_slots").and_then(Value::as_object);
    let inactive = slots
        .and_then(|slots| slots.iter().find(|(_, slot)| slot.get("state").and_then(Value::as_str) == Some("inactive")));
    match inactive {
        Some((name, _)) => Ok(name.clone()),
        None => bail!("No inactive boot slot to switch to"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::parse_command;
    use serde_json::json;

    fn parse(args: &[&str]) -> Command {
        parse_command(args)
    }

    #[test]
    fn swap_options_send_what_was_given() {
        let Command::Config { command: Config::Swap { command: Swap::Options(args) } } =
            parse(&["config", "swap", "options", "--swap-size=2G", "--swappiness", "10"])
        else {
            panic!("not swap options")
        };
        assert_eq!(Value::from(args.body()), json!({"swap_size": "2G", "swappiness": 10}));
        let Command::Config { command: Config::Swap { command: Swap::Options(args) } } =
            parse(&["cfg", "sw", "op", "--swappiness=300"])
        else {
            panic!("not swap options")
        };
        assert_eq!(Value::from(args.body()), json!({"swappiness": 300}));
    }

    #[test]
    fn led_flags_alone_mean_on() {
        let Command::Boards { command: Boards::Yellow { command: Some(Yellow::Options(args)) } } =
            parse(&["boards", "yellow", "options", "--disk-led", "--power-led=false"])
        else {
            panic!("not yellow options")
        };
        assert_eq!(Value::from(args.body()), json!({"disk_led": true, "power_led": false}));
        let Command::Boards { command: Boards::Green { command: Some(Green::Options(args)) } } =
            parse(&["boards", "green", "opts", "--system-health-led=0"])
        else {
            panic!("not green options")
        };
        assert_eq!(Value::from(args.body()), json!({"system_health_led": false}));
        assert!(matches!(parse(&["boards", "yell"]), Command::Boards { command: Boards::Yellow { command: None } }));
    }

    #[test]
    fn raspberry_pi_firmware_commands_and_aliases_parse() {
        assert!(matches!(
            parse(&["boards", "raspberrypi", "firmware"]),
            Command::Boards { command: Boards::Raspberrypi { command: Raspberrypi::Firmware { command: None } } }
        ));
        for update in [&["boards", "rpi", "fw", "update"], &["boards", "raspberrypi", "firmware", "up"]] {
            assert!(matches!(
                parse(update),
                Command::Boards {
                    command: Boards::Raspberrypi { command: Raspberrypi::Firmware { command: Some(Firmware::Update) } }
                }
            ));
        }
    }

    #[test]
    fn firmware_versions_read_as_dates() {
        assert_eq!(humanize_firmware_version("1741606543"), "2025-03-10");
        assert_eq!(humanize_firmware_version("1713175412-000138c0"), "2024-04-15 (VL805 000138c0)");
        assert_eq!(humanize_firmware_version("0"), "1970-01-01");
        assert_eq!(humanize_firmware_version("951782400"), "2000-02-29");
        assert_eq!(humanize_firmware_version("unknown"), "unknown");
        let mut data = json!({"current_version": "1741606543", "latest_version": null, "update_available": true});
        humanize_firmware(&mut data);
        assert_eq!(data, json!({"current_version": "2025-03-10", "latest_version": null, "update_available": true}));
    }

    #[test]
    fn the_old_name_earns_a_notice() {
        let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
        assert_eq!(
            deprecation_notice(&args(&["ha", "hassos", "info"])).as_deref(),
            Some("The use of 'hassos' is deprecated, please use 'os' instead!")
        );
        assert_eq!(deprecation_notice(&args(&["ha", "os", "info"])), None);
    }

    #[test]
    fn the_real_names_and_aliases_parse() {
        assert!(matches!(parse(&["sync"]), Command::Import));
        assert!(matches!(parse(&["data", "mov", "/dev/sda"]), Command::Datadisk { command: Datadisk::Move { .. } }));
        assert!(matches!(parse(&["boot", "other"]), Command::BootSlot { .. }));
        let Command::Update(args) = parse(&["up", "--version", "16.1"]) else { panic!("not update") };
        assert_eq!(Value::from(args.body()), json!({"version": "16.1"}));
    }
}
