//! The YAML `ha` prints, byte for byte as the real CLI prints it.
//!
//! The real CLI decodes the answer's `data` into Go values (every number a float64), encodes it
//! as JSON again and converts that to YAML with the go-yaml v2 emitter. What shows from that
//! chain, and is reproduced here:
//! - keys sorted in go-yaml's order (digit runs compare as numbers; non-letters before letters);
//! - numbers that are whole print as integers, other numbers in Go's shortest `%g` form
//!   (`1.2345675e+06`);
//! - a string that would read back as something else (`"true"`, `"1.0"`, `""`, `"12:30"`, a
//!   timestamp such as `"2024-01-01"`) is double-quoted; one the plain style cannot carry
//!   (`'- x'`, `'a: b'`) is single-quoted; one with characters YAML must escape (tabs, control
//!   characters, characters outside the Basic Multilingual Plane) is double-quoted with escapes;
//! - a string with line breaks is a literal block (`|-`);
//! - a line that has passed column 80 is folded at its next space;
//! - empty lists and maps are `[]` and `{}`; sequences in a mapping are not indented.

use serde_json::{Map, Value};
use std::cmp::Ordering;

/// The emitter's preferred line width and indentation, go-yaml's defaults.
const BEST_WIDTH: usize = 80;
const BEST_INDENT: isize = 2;

/// `value` as the real CLI prints it.
pub fn to_string(value: &Value) -> String {
    let mut emitter = Emitter {
        out: String::new(),
        column: 0,
        indent: -1,
        indents: Vec::new(),
        whitespace: true,
        indention: true,
        open_ended: false,
    };
    emitter.node(value, Context::Root);
    // The document's end: the last line ended, and `...` after a block that keeps its trailing
    // line breaks, which would otherwise swallow what follows.
    emitter.write_indent();
    if emitter.open_ended {
        emitter.write_indicator("...", true, false, false);
        emitter.write_indent();
    }
    emitter.out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    SequenceItem,
    MappingValue,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

/// The state of go-yaml's emitter that decides line breaks and spacing.
struct Emitter {
    out: String,
    /// Counted in characters, as go-yaml counts.
    column: usize,
    indent: isize,
    indents: Vec<isize>,
    /// The last thing written was a space (or nothing yet on this line).
    whitespace: bool,
    /// Only indentation so far on this line.
    indention: bool,
    /// The last scalar was a block that keeps its trailing breaks (`|+`).
    open_ended: bool,
}

impl Emitter {
    fn node(&mut self, value: &Value, context: Context) {
        match value {
            Value::Object(map) if !map.is_empty() => self.mapping(map),
            Value::Array(items) if !items.is_empty() => self.sequence(items, context),
            Value::Object(_) => self.empty_collection('{', '}'),
            Value::Array(_) => self.empty_collection('[', ']'),
            Value::String(text) => self.scalar(text, string_style(text), false),
            Value::Null => self.scalar("null", Style::Plain, false),
            Value::Bool(flag) => self.scalar(if *flag { "true" } else { "false" }, Style::Plain, false),
            Value::Number(number) => {
                self.scalar(&number_text(number.as_f64().unwrap_or(f64::NAN)), Style::Plain, false)
            }
        }
    }

    fn mapping(&mut self, map: &Map<String, Value>) {
        self.increase_indent(false, false);
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_by(|a, b| key_order(a.0, b.0));
        for (key, value) in entries {
            self.write_indent();
            self.scalar(key, string_style(key), true);
            self.write_indicator(":", false, false, false);
            self.node(value, Context::MappingValue);
        }
        self.pop_indent();
    }

    fn sequence(&mut self, items: &[Value], context: Context) {
        // A sequence that is a mapping's value starts at the key's column.
        self.increase_indent(false, context == Context::MappingValue && !self.indention);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.node(item, Context::SequenceItem);
        }
        self.pop_indent();
    }

    fn empty_collection(&mut self, open: char, close: char) {
        self.write_indicator(&open.to_string(), true, true, false);
        self.write_indicator(&close.to_string(), false, false, false);
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0) as usize;
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(&mut self, indicator: &str, need_whitespace: bool, is_whitespace: bool, is_indention: bool) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
        self.open_ended = false;
    }

    fn scalar(&mut self, text: &str, requested: Style, simple_key: bool) {
        let style = select_style(text, requested, simple_key);
        self.increase_indent(true, false);
        let chars: Vec<char> = text.chars().collect();
        match style {
            Style::Plain => self.plain_or_single_quoted(&chars, !simple_key, false),
            Style::SingleQuoted => self.plain_or_single_quoted(&chars, !simple_key, true),
            Style::DoubleQuoted => self.double_quoted(&chars, !simple_key),
            Style::Literal => self.literal(&chars),
        }
        self.pop_indent();
    }

    /// Writes a line break found in the text: `\n` as is, the others as themselves; the next
    /// line starts with indentation.
    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
        self.indention = true;
    }

    /// The plain style, or with `quoted` the single-quoted one: the two fold and break alike.
    fn plain_or_single_quoted(&mut self, chars: &[char], allow_breaks: bool, quoted: bool) {
        if quoted {
            self.write_indicator("'", true, false, false);
        } else if !self.whitespace {
            self.put(' ');
        }
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                // A quoted text never folds at its first or last character.
                let inside = !quoted || (i > 0 && i + 1 < chars.len());
                if allow_breaks && !spaces && self.column > BEST_WIDTH && inside && chars.get(i + 1) != Some(&' ') {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if quoted && c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        if quoted {
            self.write_indicator("'", false, false, false);
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn double_quoted(&mut self, chars: &[char], allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match escape(c) {
                    Some(short) => self.put(short),
                    None => {
                        let code = c as u32;
                        let (prefix, width) = match code {
                            0..=0xFF => ('x', 2),
                            0x100..=0xFFFF => ('u', 4),
                            _ => ('U', 8),
                        };
                        self.put(prefix);
                        for digit in format!("{code:0width$X}").chars() {
                            self.put(digit);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i > 0 && i + 1 < chars.len() {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, chars: &[char]) {
        self.write_indicator("|", true, false, false);
        // The block's hints: an indentation digit when it starts with a blank, and how its end
        // is chomped.
        if chars.first().is_some_and(|&c| c == ' ' || is_break(c)) {
            self.write_indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let trailing_breaks = chars.iter().rev().take_while(|&&c| is_break(c)).count();
        let chomp = match trailing_breaks {
            0 => Some("-"),
            1 if chars.len() > 1 => None,
            _ => Some("+"),
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.open_ended = chomp == Some("+");
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in chars {
            if is_break(c) {
                self.write_break(c);
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

/// The style the encoder asks for: a literal block for text with `\n`, plain when the text reads
/// back as the same string, double quotes otherwise.
fn string_style(text: &str) -> Style {
    if text.contains('\n') {
        Style::Literal
    } else if resolves_to_string(text) && !is_base60_float(text) {
        Style::Plain
    } else {
        Style::DoubleQuoted
    }
}

/// What the emitter makes of the requested style, given what the text contains.
fn select_style(text: &str, requested: Style, simple_key: bool) -> Style {
    let analysis = Analysis::of(text);
    let mut style = requested;
    if simple_key && analysis.multiline {
        style = Style::DoubleQuoted;
    }
    if style == Style::Plain && (!analysis.block_plain_allowed || (text.is_empty() && simple_key)) {
        style = Style::SingleQuoted;
    }
    if style == Style::SingleQuoted && !analysis.single_quoted_allowed {
        style = Style::DoubleQuoted;
    }
    if style == Style::Literal && (!analysis.block_allowed || simple_key) {
        style = Style::DoubleQuoted;
    }
    style
}

/// Which styles can carry a text, as go-yaml's emitter decides it.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

impl Analysis {
    fn of(text: &str) -> Analysis {
        if text.is_empty() {
            return Analysis {
                multiline: false,
                block_plain_allowed: true,
                single_quoted_allowed: true,
                block_allowed: false,
            };
        }
        let chars: Vec<char> = text.chars().collect();
        let mut block_indicators = text.starts_with("---") || text.starts_with("...");
        let (mut line_breaks, mut special) = (false, false);
        let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
            (false, false, false, false);
        let (mut break_space, mut space_break) = (false, false);
        let (mut previous_space, mut previous_break) = (false, false);
        let mut preceded_by_whitespace = true;
        for (i, &c) in chars.iter().enumerate() {
            let followed_by_whitespace =
                chars.get(i + 1).is_none_or(|&next| next == ' ' || next == '\t' || is_break(next));
            if i == 0 {
                match c {
                    '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                        block_indicators = true
                    }
                    '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                    _ => {}
                }
            } else {
                match c {
                    ':' if followed_by_whitespace => block_indicators = true,
                    '#' if preceded_by_whitespace => block_indicators = true,
                    _ => {}
                }
            }
            if !is_printable(c) {
                special = true;
            }
            let last = i + 1 == chars.len();
            if c == ' ' {
                leading_space |= i == 0;
                trailing_space |= last;
                break_space |= previous_break;
                previous_space = true;
                previous_break = false;
            } else if is_break(c) {
                line_breaks = true;
                leading_break |= i == 0;
                trailing_break |= last;
                space_break |= previous_space;
                previous_space = false;
                previous_break = true;
            } else {
                previous_space = false;
                previous_break = false;
            }
            preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
        }
        let mut analysis = Analysis {
            multiline: line_breaks,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: true,
        };
        if leading_space || leading_break || trailing_space || trailing_break {
            analysis.block_plain_allowed = false;
        }
        if trailing_space {
            analysis.block_allowed = false;
        }
        if break_space {
            analysis.block_plain_allowed = false;
            analysis.single_quoted_allowed = false;
        }
        if space_break || special {
            analysis.block_plain_allowed = false;
            analysis.single_quoted_allowed = false;
            analysis.block_allowed = false;
        }
        if line_breaks || block_indicators {
            analysis.block_plain_allowed = false;
        }
        analysis
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// YAML's printable set as go-yaml tests it: no tabs, and nothing beyond the Basic Multilingual
/// Plane.
fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}') && c != '\u{FEFF}'
}

fn escape(c: char) -> Option<char> {
    Some(match c {
        '\0' => '0',
        '\u{07}' => 'a',
        '\u{08}' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\u{0B}' => 'v',
        '\u{0C}' => 'f',
        '\r' => 'r',
        '\u{1B}' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{A0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        _ => return None,
    })
}

/// A number as it comes out of float64 → JSON → YAML: whole numbers that fit 64 bits as
/// integers, everything else in Go's shortest `%g`.
fn number_text(value: f64) -> String {
    if value.is_nan() {
        return ".nan".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    if value.fract() == 0.0 && value.abs() < 1e21 {
        // Go's JSON writes these without exponent, and YAML reads them back as integers when
        // they fit.
        let digits = format!("{value}");
        if let Ok(int) = digits.parse::<i64>() {
            return int.to_string();
        }
        if let Ok(uint) = digits.parse::<u64>() {
            return uint.to_string();
        }
    }
    go_shortest_g(value)
}

/// Go's `strconv.FormatFloat(value, 'g', -1, 64)`.
fn go_shortest_g(value: f64) -> String {
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes a decimal exponent");
    // Go decides by a precision of 6 when the precision is the shortest.
    if !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    format!("{value}")
}

/// Whether go-yaml reads `text`, written plain, back as a string.
fn resolves_to_string(text: &str) -> bool {
    let Some(first) = text.bytes().next() else {
        // The empty text is null.
        return false;
    };
    let hint = match first {
        b'+' | b'-' => 'S',
        b'0'..=b'9' => 'D',
        b'y' | b'Y' | b'n' | b'N' | b't' | b'T' | b'f' | b'F' | b'o' | b'O' | b'~' => 'M',
        b'.' => '.',
        _ => return true,
    };
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON", "n", "N", "no", "No", "NO", "false",
        "False", "FALSE", "off", "Off", "OFF", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf",
        ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&text) {
        return false;
    }
    match hint {
        'M' => true,
        '.' => !is_decimal_fraction(text),
        _ => {
            let plain = text.replace('_', "");
            !(is_timestamp(text)
                || is_go_integer(&plain)
                || (is_yaml_float(&plain) && plain.parse::<f64>().is_ok_and(f64::is_finite))
                || is_binary(&plain))
        }
    }
}

/// `.5`, `.5e3`: what Go's float parser takes from a text starting with a dot.
fn is_decimal_fraction(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('.') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (rest.len() == digits || is_exponent(&rest[digits..]))
}

fn is_exponent(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(['e', 'E']) else {
        return false;
    };
    let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
}

/// YAML's float form: `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`.
fn is_yaml_float(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let split = body.find(['e', 'E']).unwrap_or(body.len());
    let (number, exponent) = body.split_at(split);
    if !exponent.is_empty() && !is_exponent(exponent) {
        return false;
    }
    match number.split_once('.') {
        Some((whole, fraction)) => {
            whole.bytes().all(|b| b.is_ascii_digit())
                && fraction.bytes().all(|b| b.is_ascii_digit())
                && (if whole.is_empty() { !fraction.is_empty() } else { true })
        }
        None => !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Go's `ParseInt(text, 0, 64)` or `ParseUint(text, 0, 64)` succeeds: an optional sign, then a
/// decimal, `0x`, `0o`, `0b` or leading-`0` octal number within 64 bits.
fn is_go_integer(text: &str) -> bool {
    let (negative, signed, body) = match text.as_bytes().first() {
        Some(b'-') => (true, true, &text[1..]),
        Some(b'+') => (false, true, &text[1..]),
        _ => (false, false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(hex) = lower.strip_prefix("0x") {
        (16, hex)
    } else if let Some(octal) = lower.strip_prefix("0o") {
        (8, octal)
    } else if let Some(binary) = lower.strip_prefix("0b") {
        (2, binary)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let Ok(magnitude) = u64::from_str_radix(digits, radix) else {
        return false;
    };
    if digits.starts_with(['+', '-']) {
        return false;
    }
    match (negative, signed) {
        (true, _) => magnitude <= i64::MIN.unsigned_abs(),
        (false, true) => magnitude <= i64::MAX as u64,
        (false, false) => true,
    }
}

/// `0b…` and `-0b…`, which go-yaml reads as binary integers.
fn is_binary(text: &str) -> bool {
    let digits = text.strip_prefix("0b").or_else(|| text.strip_prefix("-0b"));
    digits.is_some_and(|digits| {
        !digits.is_empty() && digits.len() <= 64 && digits.bytes().all(|b| b == b'0' || b == b'1')
    })
}

/// Sexagesimal numbers such as `12:30`, which go-yaml quotes for older YAML readers:
/// `[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?`.
fn is_base60_float(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (main, fraction) = match body.split_once('.') {
        Some((main, fraction)) => (main, Some(fraction)),
        None => (body, None),
    };
    if fraction.is_some_and(|fraction| !fraction.bytes().all(|b| b.is_ascii_digit() || b == b'_')) {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or_default();
    if !head.starts_with(|c: char| c.is_ascii_digit()) || !head.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return false;
    }
    let mut sixties = 0;
    for part in parts {
        let ok = match part.as_bytes() {
            [d] => d.is_ascii_digit(),
            [t, d] => (b'0'..=b'5').contains(t) && d.is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
        sixties += 1;
    }
    sixties > 0
}

/// Go's `time.Parse` with one of the layouts go-yaml tries: `2006-1-2`, `2006-1-2 15:4:5[.frac]`
/// and `2006-1-2T15:4:5[.frac]Z07:00` (`T` or `t`).
fn is_timestamp(text: &str) -> bool {
    let mut rest = text.as_bytes();
    let Some(year) = fixed_number(&mut rest, 4) else {
        return false;
    };
    let date = (|| {
        expect(&mut rest, b'-')?;
        let month = short_number(&mut rest)?;
        expect(&mut rest, b'-')?;
        let day = short_number(&mut rest)?;
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(())
    })();
    if date.is_none() {
        return false;
    }
    let with_zone = match rest.first() {
        None => return true,
        Some(b'T' | b't') => true,
        Some(b' ') => false,
        Some(_) => return false,
    };
    rest = &rest[1..];
    let time = (|| {
        let hour = short_number(&mut rest)?;
        expect(&mut rest, b':')?;
        let minute = short_number(&mut rest)?;
        expect(&mut rest, b':')?;
        let second = short_number(&mut rest)?;
        if let [b'.' | b',', digit, ..] = rest {
            if digit.is_ascii_digit() {
                let digits = rest[1..].iter().take(9).take_while(|b| b.is_ascii_digit()).count();
                rest = &rest[1 + digits..];
            }
        }
        (hour < 24 && minute < 60 && second < 60).then_some(())
    })();
    if time.is_none() {
        return false;
    }
    if with_zone {
        match rest {
            [b'Z', tail @ ..] => rest = tail,
            [b'+' | b'-', h1, h2, b':', m1, m2, tail @ ..] if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()) => {
                rest = tail
            }
            _ => return false,
        }
    }
    rest.is_empty()
}

fn expect(rest: &mut &[u8], byte: u8) -> Option<()> {
    let (first, tail) = rest.split_first()?;
    (*first == byte).then(|| *rest = tail)
}

fn fixed_number(rest: &mut &[u8], width: usize) -> Option<u32> {
    let digits = rest.get(..width)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *rest = &rest[width..];
    Some(digits.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// One or two digits, as Go reads a non-padded layout element.
fn short_number(rest: &mut &[u8]) -> Option<u32> {
    let width = match rest {
        [a, b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => 2,
        [a, ..] if a.is_ascii_digit() => 1,
        _ => return None,
    };
    fixed_number(rest, width)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// go-yaml's key order: letters compare by code point, a non-letter sorts before a letter, and
/// runs of digits compare by their value.
fn key_order(a: &str, b: &str) -> Ordering {
    if key_less(a, b) {
        Ordering::Less
    } else if key_less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..a.len().min(b.len()) {
        if a[i] == b[i] {
            continue;
        }
        let (a_letter, b_letter) = (a[i].is_alphabetic(), b[i].is_alphabetic());
        if a_letter && b_letter {
            return a[i] < b[i];
        }
        if a_letter || b_letter {
            return b_letter;
        }
        let (mut a_number, mut b_number): (i64, i64) = (0, 0);
        if a[i] == '0' || b[i] == '0' {
            // Inside a number that started before a zero, the digits still count as a number.
            if a[..i].iter().rev().take_while(|c| c.is_ascii_digit()).any(|&c| c != '0') {
                a_number = 1;
                b_number = 1;
            }
        }
        let a_end = i + a[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let b_end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        for c in &a[i..a_end] {
            a_number = a_number.wrapping_mul(10).wrapping_add(i64::from(*c as u8 - b'0'));
        }
        for c in &b[i..b_end] {
            b_number = b_number.wrapping_mul(10).wrapping_add(i64::from(*c as u8 - b'0'));
        }
        if a_number != b_number {
            return a_number < b_number;
        }
        if a_end != b_end {
            return a_end < b_end;
        }
        return a[i] < b[i];
    }
    a.len() < b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(value: Value) -> String {
        to_string(&value)
    }

    #[test]
    fn nested_data_has_the_go_layout() {
        let data = json!({
            "version": "2024.1.0",
            "addons": [{"slug": "ssh", "state": "started"}, {"slug": "x", "ports": {}}],
            "debug": false,
            "empty": [],
            "nested": {"a": {"b": [1, [2, 3]]}},
            "ip_address": null,
        });
        assert_eq!(
            yaml(data),
            "addons:\n- slug: ssh\n  state: started\n- ports: {}\n  slug: x\ndebug: false\nempty: []\n\
             ip_address: null\nnested:\n  a:\n    b:\n    - 1\n    - - 2\n      - 3\nversion: 2024.1.0\n"
        );
    }

    #[test]
    fn whole_floats_print_as_integers_and_others_as_go_g() {
        let cases = [
            (json!(5.0), "5"),
            (json!(12.5), "12.5"),
            (json!(-0.0), "0"),
            (json!(0.0001), "0.0001"),
            (json!(0.00001), "1e-05"),
            (json!(1234567.5), "1.2345675e+06"),
            (json!(123456.5), "123456.5"),
            (json!(1e21), "1e+21"),
            (json!(1e20), "1e+20"),
            (json!(18446744073709551615u64), "1.8446744073709552e+19"),
            (json!(9007199254740993u64), "9007199254740992"),
            (json!(12345678901234567890u64), "12345678901234567000"),
            (json!(-9007199254740993i64), "-9007199254740992"),
        ];
        for (value, text) in cases {
            assert_eq!(yaml(json!({"v": value})), format!("v: {text}\n"), "{value}");
        }
        assert_eq!(number_text(1e300), "1e+300");
        assert_eq!(number_text(-2.5e-10), "-2.5e-10");
    }

    #[test]
    fn strings_are_quoted_only_where_needed() {
        let cases = [
            ("plain text", "plain text"),
            ("", "\"\""),
            ("true", "\"true\""),
            ("on", "\"on\""),
            ("No", "\"No\""),
            ("null", "\"null\""),
            ("~", "\"~\""),
            ("1.0", "\"1.0\""),
            ("42", "\"42\""),
            ("0x1F", "\"0x1F\""),
            ("1_000", "\"1_000\""),
            (".5", "\".5\""),
            ("1e3", "\"1e3\""),
            ("12:30", "\"12:30\""),
            ("2024-01-01", "\"2024-01-01\""),
            ("2024-01-01T10:00:00Z", "\"2024-01-01T10:00:00Z\""),
            ("2024-06-07T08:09:10.123456+00:00", "\"2024-06-07T08:09:10.123456+00:00\""),
            ("2024-01-01 10:00:00", "\"2024-01-01 10:00:00\""),
            ("2024-01-01T10:00:00", "2024-01-01T10:00:00"),
            ("2024-02-30", "2024-02-30"),
            ("2024.1.0", "2024.1.0"),
            ("<<", "<<"),
            ("- x", "'- x'"),
            ("a: b", "'a: b'"),
            ("it's: here", "'it''s: here'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("#hash", "'#hash'"),
            ("a #b", "'a #b'"),
            ("a#b", "a#b"),
            ("http://h:8123/x", "http://h:8123/x"),
            ("tab\there", "\"tab\\there\""),
            ("bell\u{7}", "\"bell\\a\""),
            ("smile 😀", "\"smile \\U0001F600\""),
            ("größe", "größe"),
            ("quote \"x\"", "quote \"x\""),
        ];
        for (text, printed) in cases {
            assert_eq!(yaml(json!({"s": text})), format!("s: {printed}\n"), "{text:?}");
        }
    }

    #[test]
    fn keys_that_need_it_are_quoted_too() {
        assert_eq!(yaml(json!({"true": 1, "": 2, "a b": 3, "n": 4})), "\"\": 2\na b: 3\n\"n\": 4\n\"true\": 1\n");
    }

    #[test]
    fn multi_line_strings_are_literal_blocks() {
        assert_eq!(yaml(json!({"s": "a\nb"})), "s: |-\n  a\n  b\n");
        assert_eq!(yaml(json!({"s": "a\nb\n", "t": 1})), "s: |\n  a\n  b\nt: 1\n");
        assert_eq!(yaml(json!({"s": "a\n\n", "t": 1})), "s: |+\n  a\n\nt: 1\n");
        assert_eq!(yaml(json!({"s": "a\n\n"})), "s: |+\n  a\n\n...\n");
        assert_eq!(yaml(json!({"s": "a\n"})), "s: |\n  a\n");
        assert_eq!(yaml(json!({"s": " a\nb"})), "s: |2-\n   a\n  b\n");
        assert_eq!(yaml(json!({"s": "a \nb"})), "s: \"a \\nb\"\n");
        assert_eq!(yaml(json!({"l": ["x\ny"]})), "l:\n- |-\n  x\n  y\n");
    }

    #[test]
    fn long_lines_fold_at_the_first_space_past_column_80() {
        let words = "lorem ipsum dolor sit amet ".repeat(5);
        let text = words.trim_end();
        let out = yaml(json!({"description": text}));
        let expected = "description: lorem ipsum dolor sit amet lorem ipsum dolor sit amet lorem ipsum dolor\n  \
                        sit amet lorem ipsum dolor sit amet lorem ipsum dolor sit amet\n";
        assert_eq!(out, expected);
        let quoted = yaml(json!({"s": format!("{text}: x")}));
        assert!(quoted.starts_with("s: 'lorem") && quoted.contains("\n  ") && quoted.ends_with(": x'\n"), "{quoted}");
        let escaped = yaml(json!({"s": format!("\t{text}")}));
        assert!(escaped.contains("\n  ") && escaped.starts_with("s: \"\\tlorem"), "{escaped}");
    }

    #[test]
    fn keys_sort_as_go_yaml_sorts_them() {
        let mut keys = vec!["b", "a10", "a9", "a_b", "aB", "a", "ipv6", "ip_address", "x01", "x1", "Z", "_z"];
        keys.sort_by(|a, b| key_order(a, b));
        assert_eq!(keys, ["_z", "Z", "a", "a_b", "a9", "a10", "aB", "b", "ip_address", "ipv6", "x1", "x01"]);
    }
}
