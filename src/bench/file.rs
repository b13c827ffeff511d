//! `pyconchat bench --file-mb N`: one member sends an N MiB file and
//! another fetches it, through the client library the terminal client uses,
//! while the sender keeps chatting. Measures both directions and how long a
//! chat message waits for its reply while the upload runs.

use std::{
    fmt,
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{BenchError, target::Target};
use crate::{
    client::{Client, ClientEvent, ConnectOptions, Identity, Transport},
    protocol::{Body, Event, FileInfo},
};

/// How often the sender posts a chat message during the upload.
const CHAT_EVERY: Duration = Duration::from_millis(50);
const GROUP: &str = "bench-files";

/// What one file run measured.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub target: String,
    pub tls: bool,
    pub bytes: u64,
    /// Hashing the file before the offer, part of `upload_secs`.
    pub hash_secs: f64,
    /// From `send_file` to its `sent` reply: hash, offer, chunks, check.
    pub upload_secs: f64,
    /// From the first fetch to the file saved under its name, hash checked.
    pub download_secs: f64,
    /// Chat messages the sender posted during the upload, and how long
    /// each waited for its `sent` reply.
    pub chat_messages: usize,
    pub chat_reply_p50_ms: f64,
    pub chat_reply_max_ms: f64,
    pub peak_rss_bytes: Option<u64>,
}

impl fmt::Display for FileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mib = self.bytes as f64 / (1024.0 * 1024.0);
        let rate = |secs: f64| mib / secs.max(f64::EPSILON);
        let transport = if self.tls { "TLS" } else { "plain TCP" };
        writeln!(f, "server            {}, {transport}", self.target)?;
        writeln!(
            f,
            "file              {mib:.1} MiB ({} bytes), BLAKE3 checked both ways",
            self.bytes
        )?;
        writeln!(
            f,
            "upload            {:.2} s = {:.0} MiB/s (hashing first: {:.2} s)",
            self.upload_secs,
            rate(self.upload_secs),
            self.hash_secs
        )?;
        writeln!(
            f,
            "download          {:.2} s = {:.0} MiB/s",
            self.download_secs,
            rate(self.download_secs)
        )?;
        writeln!(
            f,
            "chat during it    {} messages, reply p50 {:.2} ms, max {:.2} ms",
            self.chat_messages, self.chat_reply_p50_ms, self.chat_reply_max_ms
        )?;
        if let Some(rss) = self.peak_rss_bytes {
            writeln!(f, "peak RSS          {:.1} MiB", rss as f64 / 1048576.0)?;
        }
        Ok(())
    }
}

/// Runs the file scenario against `target`.
pub async fn run(target: &Target, mib: u64, tls: bool) -> Result<FileReport, BenchError> {
    let work = tempfile::tempdir().map_err(BenchError::Io)?;
    let bytes = mib * 1024 * 1024;
    let path = work.path().join("bench.bin");
    write_contents(&path, bytes)?;

    let addr = target.addrs()[0];
    let failed = |e: &dyn fmt::Display| BenchError::Server(e.to_string());
    let connect = |name: &'static str, identity: Identity| connect_as(addr, name, identity, tls);
    let (sender, _, mut sender_events) = connect("bench-sender", Identity::generate()).await?;
    // The client stops when nobody reads its events.
    tokio::spawn(async move { while sender_events.recv().await.is_some() {} });
    let receiver_identity = Identity::generate();
    let (pending, _, _) = connect("bench-receiver", receiver_identity.clone()).await?;
    drop(pending);
    approve(&sender, "bench-receiver").await?;
    let (receiver, _, mut receiver_events) = connect("bench-receiver", receiver_identity).await?;

    let hash_started = Instant::now();
    let contents = std::fs::read(&path).map_err(BenchError::Io)?;
    let hash_secs = {
        let _ = blake3::hash(&contents);
        hash_started.elapsed().as_secs_f64()
    };
    drop(contents);

    let upload_started = Instant::now();
    let done = CancellationToken::new();
    let chat = {
        let (sender, done) = (sender.clone(), done.clone());
        tokio::spawn(async move {
            let mut waits = Vec::new();
            while !done.is_cancelled() {
                let sent = Instant::now();
                if sender
                    .send_message(GROUP, "during the upload")
                    .await
                    .is_err()
                {
                    break;
                }
                waits.push(sent.elapsed());
                tokio::time::sleep(CHAT_EVERY).await;
            }
            waits
        })
    };
    let uploaded = sender
        .send_file(GROUP, &path, |_| {}, CancellationToken::new())
        .await;
    let upload_secs = upload_started.elapsed().as_secs_f64();
    done.cancel();
    uploaded.map_err(|e| failed(&e))?;
    let mut waits = chat.await.map_err(|e| failed(&e))?;
    waits.sort();

    let file = announced(&mut receiver_events).await?;
    let downloads = work.path().join("downloads");
    let download_started = Instant::now();
    let saved = receiver
        .fetch_file(&file, &downloads, |_| {}, CancellationToken::new())
        .await
        .map_err(|e| failed(&e))?;
    let download_secs = download_started.elapsed().as_secs_f64();
    let got = std::fs::metadata(&saved).map_err(BenchError::Io)?.len();
    if got != bytes {
        return Err(BenchError::Protocol(format!(
            "saved {got} bytes of {bytes}"
        )));
    }
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(FileReport {
        target: target.describe(),
        tls,
        bytes,
        hash_secs,
        upload_secs,
        download_secs,
        chat_messages: waits.len(),
        chat_reply_p50_ms: ms(waits.get(waits.len() / 2)),
        chat_reply_max_ms: ms(waits.last()),
        peak_rss_bytes: target.peak_rss().map(|(bytes, _)| bytes),
    })
}

/// Bytes that neither compress nor repeat, written in 1 MiB blocks.
fn write_contents(path: &Path, bytes: u64) -> Result<(), BenchError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(BenchError::Io)?);
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut block = vec![0_u8; 1024 * 1024];
    let mut left = bytes;
    while left > 0 {
        for word in block.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n]).map_err(BenchError::Io)?;
        left -= n as u64;
    }
    out.flush().map_err(BenchError::Io)
}

type Connected = (
    Client,
    crate::client::Connected,
    tokio::sync::mpsc::Receiver<ClientEvent>,
);

async fn connect_as(
    addr: SocketAddr,
    name: &str,
    identity: Identity,
    tls: bool,
) -> Result<Connected, BenchError> {
    let mut options = ConnectOptions::new(addr.to_string(), name, GROUP, identity);
    // Over TLS the server's fresh self-signed certificate is pinned in
    // memory on first connect, as a new user's client would.
    if !tls {
        options.transport = Transport::Plaintext;
    }
    options.reconnect = false;
    Client::connect(options)
        .await
        .map_err(|e| BenchError::Refused {
            name: name.to_owned(),
            code: e.to_string(),
        })
}

async fn approve(admin: &Client, name: &str) -> Result<(), BenchError> {
    let request = crate::protocol::Request::ApproveRequest {
        conv: GROUP.to_owned(),
        name: name.to_owned(),
    };
    admin
        .request(request)
        .await
        .map(drop)
        .map_err(|e| BenchError::Server(e.to_string()))
}

/// Waits for the file's announcement.
async fn announced(
    events: &mut tokio::sync::mpsc::Receiver<ClientEvent>,
) -> Result<FileInfo, BenchError> {
    loop {
        match events.recv().await {
            Some(ClientEvent::Server(Event::Message { entry, .. })) => {
                if let Body::File { file } = entry.body {
                    return Ok(file);
                }
            }
            Some(_) => {}
            None => {
                return Err(BenchError::Protocol(
                    "the receiver's connection closed before the file was announced".into(),
                ));
            }
        }
    }
}
