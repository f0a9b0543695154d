//! A plain-HTTP GET, written by hand because it is all we need: Debian mirrors serve HTTP, the
//! archive's SHA256 (not the transport) is the trust, and a TLS stack would double the binary.
//! Name resolution goes through musl's resolver, which reads ROOT-independent
//! `/etc/resolv.conf` and `/etc/hosts` itself: no NSS module is needed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
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
        let target = Url::parse(&url)?;
        let addresses: Vec<SocketAddr> = (target.host.as_str(), target.port)
            .to_socket_addrs()?
            .collect();
        let mut stream = connect_any(&addresses, CONNECT_TIMEOUT).map_err(|err| match err {
            Some(err) => HttpError::Io(err),
            None => HttpError::Protocol(format!("no address for {}", target.host)),
        })?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        let authority = target.authority();
        write!(
            stream,
            "GET {} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: rescue/{}\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
            target.path,
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
                format!("http://{authority}{location}")
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

/// Connects to each address in turn, as a resolver's answer is meant to be used: `localhost`
/// or a mirror's name often resolves to an IPv6 address first that does not answer, and the
/// next one does. Each attempt has its own timeout. `Err(None)` when there was no address,
/// else the last attempt's error.
fn connect_any(
    addresses: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, Option<io::Error>> {
    let mut last = None;
    for address in addresses {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Some(err),
        }
    }
    Err(last)
}

/// The parts of an `http://` URL a GET needs.
#[derive(Debug, PartialEq)]
struct Url {
    /// A name or an address; an IPv6 literal without its brackets, as the resolver takes it.
    host: String,
    port: u16,
    /// From the first `/` on (`/` when the URL has none).
    path: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, HttpError> {
        let bad = || HttpError::BadUrl(url.to_string());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        // `[::1]:8080`: the port follows the closing bracket, never a colon inside it.
        let (host, port) = match authority.strip_prefix('[') {
            Some(bracketed) => {
                let (host, after) = bracketed.split_once(']').ok_or_else(bad)?;
                match after {
                    "" => (host, None),
                    _ => (host, Some(after.strip_prefix(':').ok_or_else(bad)?)),
                }
            }
            None => match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = match port {
            None => 80,
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits.parse().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The `Host` header's value (RFC 9110 7.2): an IPv6 literal back in its brackets, and the
    /// port unless it is 80.
    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            80 => host,
            port => format!("{host}:{port}"),
        }
    }
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
    use crate::testing::Unsupported;
    use std::net::TcpListener;

    fn url(host: &str, port: u16, path: &str) -> Url {
        Url {
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn urls_split_into_host_port_path() {
        let parsed = |text: &str| Url::parse(text).unwrap();
        assert_eq!(
            parsed("http://deb.debian.org/debian"),
            url("deb.debian.org", 80, "/debian")
        );
        assert_eq!(parsed("http://mirror"), url("mirror", 80, "/"));
        assert_eq!(
            parsed("http://127.0.0.1:8080/"),
            url("127.0.0.1", 8080, "/")
        );
        assert_eq!(parsed("http://[::1]:8080/path"), url("::1", 8080, "/path"));
        assert_eq!(parsed("http://[fe80::1]/x"), url("fe80::1", 80, "/x"));
        for bad in [
            "https://x/",
            "http:///x",
            "http://[::1/x",
            "http://[::1]x/",
            "http://[::1]:/",
            "http://host:/",
            "http://host:http/",
            "http://host:99999/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_host_header_keeps_an_ipv6_literal_in_brackets() {
        assert_eq!(url("::1", 8080, "/").authority(), "[::1]:8080");
        assert_eq!(url("fe80::1", 80, "/").authority(), "[fe80::1]");
        assert_eq!(url("deb.debian.org", 80, "/").authority(), "deb.debian.org");
        assert_eq!(url("127.0.0.1", 3142, "/").authority(), "127.0.0.1:3142");
    }

    /// Answers one GET with `ok` and returns the request's head as it came.
    fn serve_once(listener: &TcpListener) -> String {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            request.push_str(&line);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        request
    }

    #[test]
    fn a_server_on_ipv6_loopback_is_reached_by_its_literal() {
        let listener = match TcpListener::bind("[::1]:0") {
            Ok(listener) => listener,
            Err(err) => {
                return crate::testing::unsupported(
                    Unsupported::Ipv6Loopback,
                    &format!("cannot listen on [::1]: {err}"),
                )
            }
        };
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || serve_once(&listener));
        let mut body = String::new();
        get(&format!("http://[::1]:{port}/dists/stable/Release"))
            .unwrap()
            .read_to_string(&mut body)
            .unwrap();
        let request = server.join().unwrap();
        assert_eq!(body, "ok");
        assert!(
            request.starts_with("GET /dists/stable/Release HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(
            request.contains(&format!("\r\nHost: [::1]:{port}\r\n")),
            "{request}"
        );
    }

    /// A name that resolves to an address that refuses and then to one that serves (how
    /// `localhost` often resolves, `::1` first): the second is used. Which addresses a name
    /// resolves to depends on the machine's /etc/hosts, so the list is given directly.
    #[test]
    fn the_next_address_is_tried_when_one_refuses() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let open = TcpListener::bind("127.0.0.1:0").unwrap();
        let serving = open.local_addr().unwrap();
        let timeout = Duration::from_secs(5);
        let stream = connect_any(&[closed, serving], timeout).unwrap();
        assert_eq!(stream.peer_addr().unwrap(), serving);

        let last = connect_any(&[closed], timeout).unwrap_err();
        assert_eq!(
            last.map(|err| err.kind()),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert!(connect_any(&[], timeout).unwrap_err().is_none());
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
