//! A real `redis-server` (Debian's package) on a free loopback port, without
//! persistence (`--save '' --appendonly no`), stopped by its own PID.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    /// Its loopback port (kept across [`RedisServer::restart`]).
    pub port: u16,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts one on a free port with `extra` arguments (e.g. renamed commands).
    pub fn start(extra: &[&str]) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        let mut r = RedisServer {
            child: None,
            port,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--protected-mode", "yes", "--loglevel", "warning"])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server: install Debian's redis-server (scripts/test.sh does)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.pings() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not come up on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether it answers PING.
    pub fn pings(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 16];
        matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills it (SIGKILL, by PID) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A plain client connection, for looking at what the store holds.
    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to redis-server")
    }

    /// Every key and its value (strings; other types' values are their
    /// `TYPE` name followed by their full dump, so nothing escapes the scan).
    pub fn everything(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut c = self.client();
        let mut out = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("COUNT")
                .arg(1000)
                .query(&mut c)
                .expect("SCAN");
            for k in keys {
                let kind: String = redis::cmd("TYPE").arg(&k).query(&mut c).expect("TYPE");
                let value: Vec<u8> = match kind.as_str() {
                    "string" => redis::cmd("GET").arg(&k).query(&mut c).unwrap_or_default(),
                    "hash" => {
                        let pairs: Vec<Vec<u8>> = redis::cmd("HGETALL")
                            .arg(&k)
                            .query(&mut c)
                            .unwrap_or_default();
                        pairs.concat()
                    }
                    _ => redis::cmd("DUMP").arg(&k).query(&mut c).unwrap_or_default(),
                };
                out.push((k, value));
            }
            if next == 0 {
                return out;
            }
            cursor = next;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
