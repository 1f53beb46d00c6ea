//! CPE names, the way an operating system says what it is (`CPE_NAME` of os-release, which
//! hostnamed publishes as `OperatingSystemCPEName`). Home Assistant OS's is
//! `cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:yellow:*`: its product, version and
//! target hardware (the board) are all the supervisor needs to know about it.
//!
//! Both bindings are read: the formatted string of CPE 2.3 (`cpe:2.3:` and eleven components,
//! `\` escaping) and the older URI (`cpe:/`, up to seven components, `%XX` escaping, the extended
//! attributes packed into the edition as `~edition~sw_edition~target_sw~target_hw~other`).

/// The components of a CPE name the supervisor reads; `None` where the name says "any" (`*`) or
/// "not applicable" (`-`), or leaves the component out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cpe {
    pub product: Option<String>,
    pub version: Option<String>,
    pub target_hardware: Option<String>,
}

/// Reads a CPE name; `None` when it is not one.
pub fn parse(name: &str) -> Option<Cpe> {
    if let Some(formatted) = name.strip_prefix("cpe:2.3:") {
        parse_formatted(formatted)
    } else {
        name.strip_prefix("cpe:/").map(parse_uri)
    }
}

/// The eleven components after `cpe:2.3:`: part, vendor, product, version, update, edition,
/// language, sw_edition, target_sw, target_hw, other.
fn parse_formatted(components: &str) -> Option<Cpe> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut chars = components.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next()?),
            ':' => fields.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    fields.push(current);
    if fields.len() != 11 {
        return None;
    }
    let value = |index: usize| Some(fields[index].clone()).filter(|value| !matches!(value.as_str(), "*" | "-" | ""));
    Some(Cpe { product: value(2), version: value(3), target_hardware: value(9) })
}

/// Up to seven components after `cpe:/`: part, vendor, product, version, update, edition,
/// language; a packed edition carries the extended ones.
fn parse_uri(components: &str) -> Cpe {
    let fields: Vec<String> = components.split(':').map(percent_decode).collect();
    let value = |index: usize| fields.get(index).cloned().filter(|value| !value.is_empty() && value != "-");
    let target_hardware = fields
        .get(5)
        .and_then(|edition| edition.strip_prefix('~'))
        .and_then(|packed| packed.split('~').nth(3))
        .map(str::to_owned)
        .filter(|value| !value.is_empty() && value != "-");
    Cpe { product: value(2), version: value(3), target_hardware }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpe(product: &str, version: &str, board: Option<&str>) -> Cpe {
        Cpe {
            product: Some(product.to_owned()),
            version: Some(version.to_owned()),
            target_hardware: board.map(str::to_owned),
        }
    }

    #[test]
    fn reads_the_formatted_string_of_home_assistant_os() {
        assert_eq!(
            parse("cpe:2.3:o:home-assistant:haos:16.0:*:production:*:*:*:yellow:*"),
            Some(cpe("haos", "16.0", Some("yellow")))
        );
        assert_eq!(
            parse("cpe:2.3:o:home-assistant:hassos:5.13:*:production:*:*:*:rpi4-64:*"),
            Some(cpe("hassos", "5.13", Some("rpi4-64")))
        );
        assert_eq!(parse(r"cpe:2.3:o:vendor:name\:x:1.0:*:*:*:*:*:*:*"), Some(cpe("name:x", "1.0", None)));
    }

    #[test]
    fn reads_the_uri_binding_with_a_packed_edition() {
        assert_eq!(parse("cpe:/o:fedoraproject:fedora:39"), Some(cpe("fedora", "39", None)));
        assert_eq!(
            parse("cpe:/o:home-assistant:haos:16.0::~production~~~generic%2dx86%2d64~"),
            Some(cpe("haos", "16.0", Some("generic-x86-64")))
        );
    }

    #[test]
    fn anything_else_is_not_a_cpe_name() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("Debian GNU/Linux 12"), None);
        assert_eq!(parse("cpe:2.3:o:too:few"), None);
    }
}
