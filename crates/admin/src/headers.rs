//! The security headers of every `/admin` answer, the guard's refusals included: a strict
//! Content-Security-Policy (the pages' own scripts and styles only, nothing inline, no framing),
//! no referrer (a login link's code must not travel on), no content sniffing, and no caching of
//! answers that do not say otherwise (the files say `no-cache` with their ETag).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

/// The pages' Content-Security-Policy.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    (HeaderName::from_static("cross-origin-resource-policy"), "same-origin"),
];

/// Whether `path` is the admin UI's.
fn is_admin(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// The middleware; mount it outside the request guard with
/// `actix_web::middleware::from_fn(admin::secure_headers)`.
pub async fn secure_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let admin = is_admin(req.path());
    let mut response = next.call(req).await?;
    if admin {
        let headers = response.headers_mut();
        for (name, value) in HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::middleware::from_fn;
    use actix_web::{test, web, App, HttpResponse};

    #[actix_web::test]
    async fn admin_answers_carry_the_headers_and_others_do_not() {
        let app = test::init_service(
            App::new()
                .wrap(from_fn(secure_headers))
                .route("/admin/", web::get().to(HttpResponse::Ok))
                .route(
                    "/admin/x.js",
                    web::get()
                        .to(|| async { HttpResponse::Ok().insert_header(("Cache-Control", "no-cache")).finish() }),
                )
                .route("/administrator", web::get().to(HttpResponse::Ok))
                .route("/ingress/t/", web::get().to(HttpResponse::Ok)),
        )
        .await;
        for (path, status) in [("/admin/", 200), ("/admin/missing", 404), ("/admin", 404)] {
            let response = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert_eq!(response.status(), status, "{path}");
            let headers = response.headers();
            assert_eq!(headers.get("content-security-policy").unwrap(), CONTENT_SECURITY_POLICY, "{path}");
            assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
            assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
            assert_eq!(headers.get("cache-control").unwrap(), "no-store");
        }
        let file = test::call_service(&app, test::TestRequest::get().uri("/admin/x.js").to_request()).await;
        assert_eq!(file.headers().get("cache-control").unwrap(), "no-cache", "a file's own caching stays");
        for path in ["/administrator", "/ingress/t/"] {
            let response = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
            assert!(response.headers().get("content-security-policy").is_none(), "{path}");
        }
    }
}
