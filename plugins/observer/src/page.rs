//! The page, rendered on the server: every value that comes from the supervisor is escaped, and
//! the page needs no script (it reloads itself with a meta refresh).

use crate::supervisor::Status;
use std::fmt::Write;

/// Seconds between two reloads of the page.
const REFRESH: u32 = 10;

pub const STYLE: &str = "\
body{font-family:system-ui,sans-serif;background:#f4f6f8;color:#1c2733;margin:0}
main{max-width:40rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem}
.banner{padding:1rem;border-radius:.5rem;font-weight:600}
.ok{background:#d9f2e1;color:#0b5d2a}
.bad{background:#fbe0e0;color:#8a1616}
.warn{background:#fff1cc;color:#6b4d00}
table{border-collapse:collapse;margin:1rem 0}
th{text-align:left;padding:.25rem 1.5rem .25rem 0;font-weight:500}
td{padding:.25rem 0}
code{background:#e6eaee;padding:0 .25rem;border-radius:.25rem}
footer{color:#5b6770;font-size:.85rem;margin-top:2rem}
";

pub fn render(status: &Status) -> String {
    let mut page = String::with_capacity(2048);
    page.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    ));
    let _ = writeln!(page, "<meta http-equiv=\"refresh\" content=\"{REFRESH}\">");
    page.push_str(concat!(
        "<title>Home Assistant Observer</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n",
        "</head>\n<body>\n<main>\n<h1>Home Assistant Observer</h1>\n",
    ));
    match &status.ping {
        Ok(()) => page.push_str("<p class=\"banner ok\">Supervisor is answering</p>\n"),
        Err(why) => {
            page.push_str("<p class=\"banner bad\">Supervisor is not answering</p>\n");
            let _ = writeln!(page, "<p>{}</p>", escape(why));
        }
    }
    match &status.info {
        Ok(info) => {
            let _ = writeln!(
                page,
                "<table>\n<tr><th>Version</th><td>{}</td></tr>\n{}\n{}\n</table>",
                escape(&info.version),
                verdict("Healthy", info.healthy),
                verdict("Supported", info.supported),
            );
        }
        Err(why) if status.ping.is_ok() => {
            let _ = writeln!(
                page,
                "<p class=\"banner warn\">The supervisor's information could not be read</p>\n<p>{}</p>",
                escape(why)
            );
        }
        Err(_) => {}
    }
    match &status.resolution {
        Ok(resolution) => {
            reasons(&mut page, "Unhealthy because of", &resolution.unhealthy);
            reasons(&mut page, "Unsupported because of", &resolution.unsupported);
        }
        Err(why) if status.ping.is_ok() => {
            let _ = writeln!(
                page,
                "<p class=\"banner warn\">The resolution center could not be read</p>\n<p>{}</p>",
                escape(why)
            );
        }
        Err(_) => {}
    }
    let _ = write!(page, "<footer>This page reloads every {REFRESH} seconds.</footer>\n</main>\n</body>\n</html>\n");
    page
}

fn verdict(name: &str, good: bool) -> String {
    let (class, word) = if good { ("ok", "Yes") } else { ("bad", "No") };
    format!("<tr><th>{name}</th><td class=\"{class}\">{word}</td></tr>")
}

fn reasons(page: &mut String, title: &str, reasons: &[String]) {
    if reasons.is_empty() {
        return;
    }
    let _ = writeln!(page, "<h2>{title}</h2>\n<ul>");
    for reason in reasons {
        let _ = writeln!(page, "<li><code>{}</code></li>", escape(reason));
    }
    page.push_str("</ul>\n");
}

/// Text made safe for both element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<a href="x" onclick='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(escape("docker"), "docker");
    }
}
