//! The pages' files, embedded at build time (`build.rs` lists `ui/`), and how they are answered:
//! their content type, and an ETag that lets the browser keep them until the daemon carries
//! other ones (`no-cache`: always asked again, answered 304 while unchanged).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};

/// One embedded file.
pub(crate) struct File {
    /// Relative to `ui/`, with `/` between folders.
    pub path: &'static str,
    pub bytes: &'static [u8],
    /// Quoted, as the header carries it.
    pub etag: &'static str,
}

static FILES: &[File] = include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));

/// The embedded file at `path` (relative to `ui/`).
pub(crate) fn find(path: &str) -> Option<&'static File> {
    FILES.iter().find(|file| file.path == path)
}

/// The content type of a file by its extension; what the pages are made of, and nothing the
/// browser would have to guess at (`nosniff` forbids guessing).
fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, extension)| extension.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The answer for `file`: 304 when the browser holds this very version.
pub(crate) fn answer(req: &HttpRequest, file: &File) -> HttpResponse {
    let held = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| matches!(tag.trim(), "*") || tag.trim().trim_start_matches("W/") == file.etag);
    let mut response = if held { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, HeaderValue::from_static(file.etag)))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if held {
        return response.finish();
    }
    response.content_type(content_type(file.path)).body(file.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_pages_are_embedded_with_their_types() {
        let index = find("index.html").expect("ui/index.html is embedded");
        assert!(String::from_utf8_lossy(index.bytes).contains("<html"));
        assert!(find("app.js").is_some());
        assert!(find("../Cargo.toml").is_none());
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("pages/store.JS"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
        assert!(FILES.iter().all(|file| file.etag.starts_with('"') && file.etag.ends_with('"')));
    }

    #[test]
    fn an_unchanged_file_is_not_sent_again() {
        let file = find("index.html").unwrap();
        let fresh = answer(&TestRequest::default().to_http_request(), file);
        assert_eq!(fresh.status(), 200);
        assert_eq!(fresh.headers().get(header::ETAG).unwrap(), file.etag);
        assert_eq!(fresh.headers().get(header::CACHE_CONTROL).unwrap(), "no-cache");
        let again = TestRequest::default().insert_header((header::IF_NONE_MATCH, file.etag)).to_http_request();
        assert_eq!(answer(&again, file).status(), 304);
        let other = TestRequest::default().insert_header((header::IF_NONE_MATCH, "\"0\"")).to_http_request();
        assert_eq!(answer(&other, file).status(), 200);
    }
}
