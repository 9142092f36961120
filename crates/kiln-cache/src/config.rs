//! Where the cache lives and how big it may grow, from the environment.
use std::ffi::OsString;
use std::fmt;
use std::io::Read;
use std::path::PathBuf;

use crate::remote::RemoteConfig;

/// 2 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

#[derive(Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub dir: PathBuf,
    /// Bytes of entry files kept before least-recently-used ones are evicted.
    pub max_size: u64,
    /// When set, entries are signed with HMAC-SHA256 and unsigned ones are refused. An empty
    /// secret is refused by [`crate::Cache::open`].
    pub secret: Option<Vec<u8>>,
    /// A secret was asked for but cannot be used (`KILN_CACHE_SECRET` empty, its file
    /// unreadable, ...): [`crate::Cache::open`] refuses to open, so the compile bypasses the
    /// cache with this reason instead of running unsigned.
    pub secret_error: Option<SecretError>,
    /// A shared Redis level behind the disk (`KILN_REMOTE_CACHE`); `None`: local only.
    pub remote: Option<RemoteConfig>,
}

// Hand-written so that the secret never reaches a log.
impl fmt::Debug for CacheConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheConfig")
            .field("dir", &self.dir)
            .field("max_size", &self.max_size)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("secret_error", &self.secret_error)
            .field("remote", &self.remote)
            .finish()
    }
}

/// A `KILN_CACHE_MAX_SIZE` text that is not a size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{text:?} is not a size: expected bytes or a number with K/M/G/T (decimal) or KiB/MiB/GiB/TiB (binary), e.g. 500M or 1.5GiB"
)]
pub struct SizeParseError {
    pub text: String,
}

/// Why a configured secret cannot be used. Never read as "no secret": that would serve and
/// write unsigned entries while the user asked for signed ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("KILN_CACHE_SECRET is set but empty (an empty key authenticates nothing)")]
    Empty,
    #[error("both KILN_CACHE_SECRET and KILN_CACHE_SECRET_FILE are set; set only one")]
    Both,
    #[error("cannot read KILN_CACHE_SECRET_FILE {path:?}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("KILN_CACHE_SECRET_FILE {path:?} holds no secret (it is empty)")]
    EmptyFile { path: PathBuf },
}

/// The largest secret file read (a key needs at most a few hundred bytes).
const MAX_SECRET_FILE: u64 = 64 << 10;

impl CacheConfig {
    /// Checks the secret before the cache opens with it.
    pub(crate) fn check_secret(&self) -> Result<(), SecretError> {
        if let Some(error) = &self.secret_error {
            return Err(error.clone());
        }
        match &self.secret {
            Some(secret) if secret.is_empty() => Err(SecretError::Empty),
            _ => Ok(()),
        }
    }

    /// `KILN_CACHE_DIR` (else `dirs::cache_dir()/kiln`, i.e. `~/.cache/kiln`),
    /// `KILN_CACHE_MAX_SIZE` (default 2 GiB; an unparsable value warns and keeps the default),
    /// `KILN_CACHE_SECRET` (taken as bytes, any encoding) or `KILN_CACHE_SECRET_FILE` (a file
    /// holding it; one trailing newline is dropped), and the remote level's `KILN_REMOTE_*`
    /// ([`RemoteConfig::from_vars`]).
    pub fn from_env() -> CacheConfig {
        CacheConfig::from_vars(|name| std::env::var_os(name))
    }

    /// [`CacheConfig::from_env`] over any variable lookup (tests need no process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<OsString>) -> CacheConfig {
        let text = |name: &str| var(name).map(|v| v.to_string_lossy().into_owned());
        let dir = var("KILN_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_dir);
        let max_size = match text("KILN_CACHE_MAX_SIZE").filter(|s| !s.trim().is_empty()) {
            None => DEFAULT_MAX_SIZE,
            Some(text) => parse_size(&text).unwrap_or_else(|e| {
                tracing::warn!("KILN_CACHE_MAX_SIZE ignored, using 2GiB: {e}");
                DEFAULT_MAX_SIZE
            }),
        };
        let (secret, secret_error) = match secret_from_vars(&var) {
            Ok(secret) => (secret, None),
            Err(error) => (None, Some(error)),
        };
        let remote = RemoteConfig::from_vars(text);
        CacheConfig {
            dir,
            max_size,
            secret,
            secret_error,
            remote,
        }
    }
}

fn secret_from_vars(
    var: &impl Fn(&str) -> Option<OsString>,
) -> Result<Option<Vec<u8>>, SecretError> {
    match (var("KILN_CACHE_SECRET"), var("KILN_CACHE_SECRET_FILE")) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(SecretError::Both),
        (Some(secret), None) if secret.is_empty() => Err(SecretError::Empty),
        (Some(secret), None) => Ok(Some(secret.into_encoded_bytes())),
        (None, Some(path)) => read_secret_file(PathBuf::from(path)).map(Some),
    }
}

/// The secret in `path`: a regular file (opened without blocking, so a FIFO cannot hang the
/// process), at most [`MAX_SECRET_FILE`] bytes, one trailing `\n` or `\r\n` dropped.
fn read_secret_file(path: PathBuf) -> Result<Vec<u8>, SecretError> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |reason: String| SecretError::File {
        path: path.clone(),
        reason,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".to_string()));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(fail(format!("larger than {MAX_SECRET_FILE} bytes")));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    for ending in [&b"\r\n"[..], b"\n"] {
        if bytes.ends_with(ending) {
            bytes.truncate(bytes.len() - ending.len());
            break;
        }
    }
    if bytes.is_empty() {
        return Err(SecretError::EmptyFile { path });
    }
    Ok(bytes)
}

fn default_dir() -> PathBuf {
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("kiln")
}

/// Parses `1234`, `500M`, `2G`, `1.5GiB`, `64kb` (case-insensitive; K/M/G/T are powers of
/// 1000 and Ki/Mi/Gi/Ti powers of 1024, as in ccache).
pub fn parse_size(text: &str) -> Result<u64, SizeParseError> {
    let error = || SizeParseError {
        text: text.to_string(),
    };
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        return Err(error());
    }
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let multiplier: u64 = match unit {
        "" => 1,
        "k" => 1_000,
        "m" => 1_000_000,
        "g" => 1_000_000_000,
        "t" => 1_000_000_000_000,
        "ki" => 1 << 10,
        "mi" => 1 << 20,
        "gi" => 1 << 30,
        "ti" => 1 << 40,
        _ => return Err(error()),
    };
    if let Ok(whole) = number.parse::<u64>() {
        return whole.checked_mul(multiplier).ok_or_else(error);
    }
    let value: f64 = number.parse().map_err(|_| error())?;
    let bytes = (value * multiplier as f64).round();
    // 2^64 as f64 is the first value that does not fit.
    if !(0.0..18_446_744_073_709_551_616.0).contains(&bytes) {
        return Err(error());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("500M"), Ok(500_000_000));
        assert_eq!(parse_size("2G"), Ok(2_000_000_000));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size(" 64 kb "), Ok(64_000));
        for bad in ["", "M", "12X", "1.2.3G", "-1", "99999999999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cache_dir_that_is_not_utf8_is_kept_as_a_path() {
        use std::os::unix::ffi::OsStringExt;
        let raw = std::ffi::OsString::from_vec(b"/tmp/kiln-\xff-cache".to_vec());
        let config = CacheConfig::from_vars(|name| (name == "KILN_CACHE_DIR").then(|| raw.clone()));
        assert_eq!(config.dir, PathBuf::from(&raw));
        let empty =
            CacheConfig::from_vars(|name| (name == "KILN_CACHE_DIR").then(std::ffi::OsString::new));
        assert_eq!(empty.dir, default_dir());
    }

    #[test]
    fn from_vars_defaults_and_overrides() {
        let config = CacheConfig::from_vars(|_| None);
        assert_eq!(config.max_size, DEFAULT_MAX_SIZE);
        assert!(config.dir.ends_with("kiln"));
        assert_eq!(config.secret, None);
        assert_eq!(config.remote, None);
        let config = CacheConfig::from_vars(|name| match name {
            "KILN_CACHE_DIR" => Some("/x/y".into()),
            "KILN_CACHE_MAX_SIZE" => Some("10M".into()),
            "KILN_CACHE_SECRET" => Some("s3".into()),
            _ => None,
        });
        assert_eq!(config.dir, PathBuf::from("/x/y"));
        assert_eq!(config.max_size, 10_000_000);
        assert_eq!(config.secret.as_deref(), Some(&b"s3"[..]));
        assert!(!format!("{config:?}").contains("s3"));
        let bad = CacheConfig::from_vars(|n| (n == "KILN_CACHE_MAX_SIZE").then(|| "lots".into()));
        assert_eq!(bad.max_size, DEFAULT_MAX_SIZE);
    }

    fn with(vars: &[(&str, OsString)]) -> CacheConfig {
        CacheConfig::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn a_secret_that_is_not_utf8_is_used_as_bytes() {
        use std::os::unix::ffi::OsStringExt;
        let bytes = vec![0xff, 0xfe, b'k', 0x80];
        let config = with(&[("KILN_CACHE_SECRET", OsString::from_vec(bytes.clone()))]);
        assert_eq!(config.secret, Some(bytes));
        assert_eq!(config.check_secret(), Ok(()));
    }

    #[test]
    fn an_unusable_secret_is_an_error_never_no_secret() {
        let empty = with(&[("KILN_CACHE_SECRET", OsString::new())]);
        assert_eq!(empty.check_secret(), Err(SecretError::Empty));
        let both = with(&[
            ("KILN_CACHE_SECRET", "a".into()),
            ("KILN_CACHE_SECRET_FILE", "/x".into()),
        ]);
        assert_eq!(both.check_secret(), Err(SecretError::Both));
        let missing = with(&[("KILN_CACHE_SECRET_FILE", "/nonexistent/kiln-secret".into())]);
        assert!(matches!(
            missing.check_secret(),
            Err(SecretError::File { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let blank = dir.path().join("blank");
        std::fs::write(&blank, "\n").unwrap();
        let blank = with(&[("KILN_CACHE_SECRET_FILE", blank.into())]);
        assert!(matches!(
            blank.check_secret(),
            Err(SecretError::EmptyFile { .. })
        ));
        let a_dir = with(&[("KILN_CACHE_SECRET_FILE", dir.path().into())]);
        assert!(matches!(
            a_dir.check_secret(),
            Err(SecretError::File { .. })
        ));
        let literal = CacheConfig {
            secret: Some(Vec::new()),
            ..CacheConfig::from_vars(|_| None)
        };
        assert_eq!(literal.check_secret(), Err(SecretError::Empty));
    }

    #[test]
    fn a_secret_file_is_read_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, b"s3cr\xffet\r\n").unwrap();
        let config = with(&[("KILN_CACHE_SECRET_FILE", path.into())]);
        assert_eq!(config.secret.as_deref(), Some(&b"s3cr\xffet"[..]));
        assert_eq!(config.check_secret(), Ok(()));
    }

    #[test]
    fn a_fifo_as_secret_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let config = with(&[("KILN_CACHE_SECRET_FILE", fifo.into())]);
        assert!(matches!(
            config.check_secret(),
            Err(SecretError::File { .. })
        ));
    }
}
