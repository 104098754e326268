//! The web page, the JSON API under `/api/` and Prometheus `/metrics`, served by axum on the
//! daemon's tokio runtime (off by default: `[web] enabled`).
//!
//! Everything reads the daemon's [`Live`] state and, when the history is on, the SQLite file
//! through a [`Reader`]; nothing here is on the audio path. Saving a vocabulary goes through the
//! same checks and the same reload as an edit of the file. HTTP basic auth, when a password is
//! set, runs before any route.

mod api;
mod metrics;
mod page;
mod settings;

pub use settings::{SecretError, WebSettings, WebSettingsError, CREDENTIAL};

use crate::config::Settings;
use crate::daemon::live::Live;
use crate::history::Reader;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use thiserror::Error;

/// Largest request body accepted (a vocabulary edit): 256 KiB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Why the web server could not start.
#[derive(Debug, Error)]
pub enum WebError {
    /// A `[web]` value is unusable.
    #[error("web.{key}: {problem}")]
    Settings {
        /// The key inside `[web]`.
        key: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// The address could not be bound (in use, not on this machine, no permission).
    #[error("web.listen: cannot listen on {listen}: {source}")]
    Bind {
        /// The configured address.
        listen: String,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
}

/// What every handler shares.
struct Shared {
    live: Arc<Live>,
    reader: Option<Reader>,
    /// SHA-256 of `user:password` when auth is on; compared in constant time.
    auth: Option<[u8; 32]>,
    /// Served on loopback without auth: only requests naming a local host are answered.
    local_only: bool,
    /// Web saves of the vocabulary, one at a time: check, write and reload stay together.
    saving: tokio::sync::Mutex<()>,
}

/// The handlers' state.
#[derive(Clone)]
struct AppState(Arc<Shared>);

/// Binds `web.listen` and serves on the current tokio runtime; `None` when the web is off.
/// The returned task runs until aborted.
pub async fn start(
    settings: &Settings,
    live: Arc<Live>,
    reader: Option<Reader>,
) -> Result<Option<tokio::task::JoinHandle<()>>, WebError> {
    let web = &settings.web;
    if !web.enabled {
        return Ok(None);
    }
    let addr = web.listen_addr().map_err(|e| WebError::Settings {
        key: e.key,
        problem: e.problem,
    })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Bind {
            listen: web.listen.clone(),
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(addr);
    let auth = web
        .password
        .as_ref()
        .map(|p| digest(format!("{}:{p}", web.username).as_bytes()));
    tracing::info!(listen = %bound, auth = auth.is_some(), history = reader.is_some(), "web page, /api/ and /metrics listening");
    let local_only = auth.is_none() && bound.ip().is_loopback();
    let app = router(AppState(Arc::new(Shared {
        live,
        reader,
        auth,
        local_only,
        saving: tokio::sync::Mutex::new(()),
    })));
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "web server stopped");
        }
    })))
}

/// Every route, behind the body limit and the auth check (which also guards the 404s).
fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/metrics", get(metrics::metrics))
        .route("/api/now", get(api::now))
        .route("/api/tracks", get(api::tracks))
        .route("/api/search", get(api::search))
        .route("/api/health", get(api::health))
        .route("/api/vocabulary", get(api::vocabulary).put(api::save))
        .route("/api/vocabulary/check", post(api::check))
        .route("/api/vocabulary/preview", post(api::preview))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_auth,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page or endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not take that method",
    )
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal digests, in time that does not depend on where they differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `user:password` bytes of a `Basic` Authorization header.
fn basic_credentials(value: &HeaderValue) -> Option<Vec<u8>> {
    use base64::Engine;
    let text = value.to_str().ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()
}

/// Whether a `Host` header names this machine (`localhost` or an IP address, any port).
fn local_host(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::IpAddr>().is_ok()
}

/// Lets a request through only with the right credentials, when a password is set. Without
/// one (loopback), a request must name a local host: a web page elsewhere cannot reach the
/// API by rebinding its own domain name to 127.0.0.1. Either way, another site's page may
/// not send work (a POST of vocabulary text makes the box run its word encoder), and no
/// response may be framed by another page.
async fn require_auth(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = if cross_site_write(&request) {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "requests that change or compute are not accepted from another site's page",
        )
        .into_response()
    } else {
        authorised(&state, request, next).await
    };
    let headers = response.headers_mut();
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A request other than GET/HEAD that a browser says comes from another site (Fetch
/// metadata), or whose `Origin` is not the host it was sent to.
fn cross_site_write(request: &Request) -> bool {
    if matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        return false;
    }
    let headers = request.headers();
    let header_text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if header_text("sec-fetch-site") == Some("cross-site") {
        return true;
    }
    match (header_text("origin"), header_text("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !origin_host.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

async fn authorised(state: &AppState, request: Request, next: Next) -> Response {
    let Some(expected) = &state.0.auth else {
        if state.0.local_only && !local_host(request.headers().get(header::HOST)) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "without web.password only requests to localhost or an IP address are served",
            )
            .into_response();
        }
        return next.run(request).await;
    };
    // Both sides are hashed first, so neither the length nor the content leaks through timing.
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(basic_credentials)
        .map(|c| digest(&c));
    if given.is_some_and(|g| same_digest(&g, expected)) {
        return next.run(request).await;
    }
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "authentication required").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"hark\", charset=\"UTF-8\""),
    );
    response
}

/// A JSON error answer: `{"error": "...", "errors": [...]}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    errors: Vec<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": self.message });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::Value::Array(self.errors);
        }
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn basic_credentials_read_any_case_of_the_scheme_and_nothing_else() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("hark:pw");
        for scheme in ["Basic", "basic", "BASIC"] {
            let v = HeaderValue::from_str(&format!("{scheme} {encoded}")).unwrap();
            assert_eq!(basic_credentials(&v).as_deref(), Some(&b"hark:pw"[..]));
        }
        let bearer = HeaderValue::from_str(&format!("Bearer {encoded}")).unwrap();
        assert_eq!(basic_credentials(&bearer), None);
        let junk = HeaderValue::from_static("Basic !!!");
        assert_eq!(basic_credentials(&junk), None);
    }

    #[test]
    fn only_local_host_names_pass_without_auth() {
        let host = |h: &'static str| local_host(Some(&HeaderValue::from_static(h)));
        for ok in [
            "127.0.0.1:8323",
            "localhost:8323",
            "LOCALHOST",
            "[::1]:8323",
            "10.0.0.7",
        ] {
            assert!(host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8323",
            "evil.example",
            "127.0.0.1.nip.io:8323",
            "",
        ] {
            assert!(!host(bad), "{bad}");
        }
        assert!(!local_host(None));
    }

    #[test]
    fn digests_compare_equal_only_when_equal() {
        let a = digest(b"hark:pw");
        assert!(same_digest(&a, &digest(b"hark:pw")));
        assert!(!same_digest(&a, &digest(b"hark:pw2")));
        assert!(!same_digest(&a, &digest(b"")));
    }
}
