//! What the benches of `wiredb-cli` share: reading a server process's CPU and
//! memory from /proc, and WebSocket clients.
#![allow(dead_code)] // each bench uses its own part

/// CPU time of every thread of process `pid` so far, in ns (`schedstat`).
pub fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A `/proc/PID/status` figure in KiB (`field` with its colon: `"VmRSS:"`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of `url` (no Nagle delay, as a browser).
pub async fn connect(url: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    socket
}
