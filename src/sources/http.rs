//! A plain-HTTP GET, written by hand because it is all we need: Debian mirrors serve HTTP, the
//! archive's SHA256 (not the transport) is the trust, and a TLS stack would double the binary.
//! Name resolution goes through musl's resolver, which reads ROOT-independent
//! `/etc/resolv.conf` and `/etc/hosts` itself: no NSS module is needed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const MAX_REDIRECTS: usize = 5;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub enum HttpError {
    BadUrl(String),
    Io(io::Error),
    Status(u16, String),
    Protocol(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::BadUrl(url) => write!(f, "not an http:// URL: {url}"),
            HttpError::Io(err) => write!(f, "{}", crate::sys::errno::describe(err)),
            HttpError::Status(code, reason) => write!(f, "HTTP {code} {reason}"),
            HttpError::Protocol(what) => write!(f, "bad HTTP response: {what}"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(err: io::Error) -> Self {
        HttpError::Io(err)
    }
}

/// GETs `url`, following redirects to other http:// URLs, and returns the body as a reader.
/// A body shorter than its Content-Length is a read error, never a silent short file.
pub fn get(url: &str) -> Result<Box<dyn Read + Send>, HttpError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (host, port, path) = split_url(&url)?;
        let address = (host.as_str(), port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| HttpError::Protocol(format!("no address for {host}")))?;
        let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        let host_header = if port == 80 {
            host.clone()
        } else {
            format!("{host}:{port}")
        };
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: rescue/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        )?;
        let mut reader = BufReader::new(stream);
        let (status, reason) = read_status(&mut reader)?;
        let headers = read_headers(&mut reader)?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.as_str())
        };
        if (300..400).contains(&status) {
            let location = header("Location")
                .ok_or_else(|| HttpError::Protocol("redirect without Location".into()))?;
            url = if location.starts_with('/') {
                format!("http://{host_header}{location}")
            } else {
                location.to_string()
            };
            continue;
        }
        if status != 200 {
            return Err(HttpError::Status(status, reason));
        }
        if header("Transfer-Encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            return Ok(Box::new(Chunked {
                inner: reader,
                left: 0,
                done: false,
            }));
        }
        return Ok(
            match header("Content-Length").map(|v| v.trim().parse::<u64>()) {
                Some(Ok(length)) => Box::new(Exact {
                    inner: reader.take(length),
                    left: length,
                }),
                Some(Err(_)) => return Err(HttpError::Protocol("bad Content-Length".into())),
                None => Box::new(reader),
            },
        );
    }
    Err(HttpError::Protocol(format!(
        "more than {MAX_REDIRECTS} redirects"
    )))
}

fn split_url(url: &str) -> Result<(String, u16, String), HttpError> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| HttpError::BadUrl(url.to_string()))?;
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => (
            host,
            port.parse()
                .map_err(|_| HttpError::BadUrl(url.to_string()))?,
        ),
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(HttpError::BadUrl(url.to_string()));
    }
    Ok((
        host.trim_matches(['[', ']']).to_string(),
        port,
        path.to_string(),
    ))
}

fn read_line(reader: &mut impl BufRead) -> Result<String, HttpError> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(16 << 10)
        .read_until(b'\n', &mut line)?;
    if !line.ends_with(b"\n") {
        return Err(HttpError::Protocol(
            "connection closed inside the headers".into(),
        ));
    }
    Ok(String::from_utf8_lossy(&line).trim_end().to_string())
}

fn read_status(reader: &mut impl BufRead) -> Result<(u16, String), HttpError> {
    let line = read_line(reader)?;
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|code| code.parse().ok());
    match (version.starts_with("HTTP/1."), code) {
        (true, Some(code)) => Ok((code, parts.next().unwrap_or_default().to_string())),
        _ => Err(HttpError::Protocol(format!("status line '{line}'"))),
    }
}

fn read_headers(reader: &mut impl BufRead) -> Result<Vec<(String, String)>, HttpError> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            return Ok(headers);
        }
        if headers.len() > 200 {
            return Err(HttpError::Protocol("too many headers".into()));
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
}

/// A body with a Content-Length: ending early is an error.
struct Exact<R> {
    inner: io::Take<R>,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("body ended {} bytes short", self.left),
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// `Transfer-Encoding: chunked`.
struct Chunked<R> {
    inner: R,
    left: u64,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let protocol = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let line =
                read_line(&mut self.inner).map_err(|_| protocol("truncated chunk header"))?;
            let size = line.split(';').next().unwrap_or_default().trim();
            self.left = u64::from_str_radix(size, 16).map_err(|_| protocol("bad chunk size"))?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "chunked body ended early",
            ));
        }
        self.left -= n as u64;
        if self.left == 0 {
            let mut crlf = [0u8; 2];
            self.inner.read_exact(&mut crlf)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_path() {
        assert_eq!(
            split_url("http://deb.debian.org/debian").unwrap(),
            ("deb.debian.org".into(), 80, "/debian".into())
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080/").unwrap(),
            ("127.0.0.1".into(), 8080, "/".into())
        );
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn chunked_bodies_decode_and_truncation_is_an_error() {
        let body = b"4\r\nabcd\r\n2;x=y\r\nef\r\n0\r\n\r\n";
        let mut out = String::new();
        Chunked {
            inner: &body[..],
            left: 0,
            done: false,
        }
        .read_to_string(&mut out)
        .unwrap();
        assert_eq!(out, "abcdef");
        let short = b"4\r\nab";
        let mut out = Vec::new();
        assert!(Chunked {
            inner: &short[..],
            left: 0,
            done: false
        }
        .read_to_end(&mut out)
        .is_err());
        let mut exact = Exact {
            inner: (&b"abc"[..]).take(5),
            left: 5,
        };
        assert!(exact.read_to_end(&mut Vec::new()).is_err());
    }
}
