//! Who may read and change what `render serve` serves. Safe by default:
//!
//! - bound to a loopback address with no token: anything on this machine may read and
//!   change, but only by a request naming this machine as its `Host` (a web page that
//!   rebinds its own name to 127.0.0.1 is refused), and a change only with a JSON body
//!   (`Content-Type: application/json`): a cross-site form cannot send one without the
//!   browser asking first, so no web page can start or cancel a build;
//! - bound to anything else, a token is required (given with `--token`, else generated
//!   and printed once): every change needs it, and every read too unless `--public-read`.
//!   It comes as `Authorization: Bearer TOKEN`, or for a browser once as `?token=TOKEN`,
//!   which sets a same-site, HTTP-only cookie the page's own requests then carry.
//!
//! A change without the token is 401; without a JSON body, 415.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

const COOKIE: &str = "render_token";

#[derive(Clone, Debug)]
pub struct Access {
    /// The token, when one is required.
    pub token: Option<String>,
    /// With a token: reads need none.
    pub public_read: bool,
    /// Bound to a loopback address (the Host check applies).
    pub loopback: bool,
}

impl Access {
    /// The policy for an address: a token is generated when the address is not loopback and
    /// none was given (the caller prints it).
    pub fn for_bind(bind: std::net::IpAddr, token: Option<String>, public_read: bool) -> Access {
        let loopback = bind.is_loopback();
        let token = match token {
            Some(token) => Some(token),
            None if !loopback => Some(generate()),
            None => None,
        };
        Access {
            token,
            public_read,
            loopback,
        }
    }

    /// The token the request carries, from its header, cookie or query.
    fn carried<'r>(headers: &'r HeaderMap, query: Option<&'r str>) -> Vec<&'r str> {
        let mut found = Vec::new();
        if let Some(bearer) = (headers.get(header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            found.push(bearer.trim());
        }
        for cookies in headers.get_all(header::COOKIE) {
            for cookie in cookies.to_str().unwrap_or("").split(';') {
                if let Some(value) = cookie.trim().strip_prefix("render_token=") {
                    found.push(value);
                }
            }
        }
        for pair in query.unwrap_or("").split('&') {
            if let Some(value) = pair.strip_prefix("token=") {
                found.push(value);
            }
        }
        found
    }
}

/// 32 random bytes as hex, from the kernel.
fn generate() -> String {
    let mut bytes = [0u8; 32];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    read.expect("/dev/urandom is readable");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn refuse(status: StatusCode, why: &str) -> Response {
    let body = serde_json::json!({ "error": why });
    (status, axum::Json(body)).into_response()
}

/// The middleware: applies the policy to every request.
pub async fn check(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if access.loopback && access.token.is_none() {
        let host = (headers.get(header::HOST))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
            return refuse(
                StatusCode::FORBIDDEN,
                "this server answers only to this machine's names",
            );
        }
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let query = request.uri().query();
    let carried = Access::carried(headers, query);
    let mut set_cookie = None;
    if let Some(token) = &access.token {
        let valid = carried.iter().any(|c| same(c, token));
        if (changes || !access.public_read) && !valid {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this request needs the server's token",
            );
        }
        let none = HeaderMap::new();
        let from_query = Access::carried(&none, query);
        if valid && from_query.iter().any(|c| same(c, token)) {
            set_cookie = Some(format!(
                "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            ));
        }
    }
    if changes {
        let json = (headers.get(header::CONTENT_TYPE))
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().starts_with("application/json"));
        if !json {
            return refuse(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "a request that changes something needs a JSON body (Content-Type: application/json)",
            );
        }
    }
    let mut response = next.run(request).await;
    if let Some(cookie) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}
