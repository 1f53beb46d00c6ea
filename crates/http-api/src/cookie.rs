//! Reading the cookies of a request, for the credentials that come as cookies (the ingress
//! session, the admin UI's session).

use actix_web::http::header::{self, HeaderMap};

/// The value of the cookie `name`, from any `Cookie` header.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::cookie;
    use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn a_cookie_from_any_cookie_header() {
        let h = headers(&[("cookie", "a=1; ingress_session=abc ; b=2")]);
        assert_eq!(cookie(&h, "ingress_session").as_deref(), Some("abc"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "ingress_session=\"x\"")]);
        assert_eq!(cookie(&h, "ingress_session").as_deref(), Some("x"));
        assert_eq!(cookie(&headers(&[("cookie", "xingress_session=1")]), "ingress_session"), None);
    }
}
