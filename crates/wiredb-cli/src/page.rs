//! The plain-HTTP side of `wiredb serve`: `/metrics`, and the demo page for every
//! other path (`http://host:port/ROOM` opens room ROOM in a shared editor).
//!
//! A browser asks for the page with a plain GET and the page's WebSocket asks for the
//! same path with `Upgrade: websocket`; the server tells them apart by that header
//! (see `ServerBuilder::http`), so no path is taken from room ids: a WebSocket to
//! `/metrics` still joins room `metrics`.

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use wire_websocket::PrometheusMetrics;

/// The page, built from `web/` by `node web/build.mjs` (its script and styles
/// inlined: the binary serves it with no network access and no files beside it).
const DEMO_PAGE: &str = include_str!("../assets/demo.html");

/// `/metrics`, and the page for every other GET unless `page` is false.
pub(crate) fn routes(metrics: &PrometheusMetrics, page: bool) -> Router {
    let routes = Router::new().merge(metrics.routes());
    if page {
        routes.fallback(serve_page)
    } else {
        routes
    }
}

async fn serve_page(method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "GET the page, or open a WebSocket\n",
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        DEMO_PAGE,
    )
        .into_response()
}
