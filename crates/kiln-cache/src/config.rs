//! Where the cache lives and how big it may grow, from the environment.
use std::fmt;
use std::path::PathBuf;

use crate::remote::RemoteConfig;

/// 2 GiB.
pub const DEFAULT_MAX_SIZE: u64 = 2 << 30;

#[derive(Clone, PartialEq, Eq)]
pub struct CacheConfig {
    pub dir: PathBuf,
    /// Bytes of entry files kept before least-recently-used ones are evicted.
    pub max_size: u64,
    /// When set, entries are signed with HMAC-SHA256 and unsigned ones are refused.
    pub secret: Option<Vec<u8>>,
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

impl CacheConfig {
    /// `KILN_CACHE_DIR` (else `dirs::cache_dir()/kiln`, i.e. `~/.cache/kiln`),
    /// `KILN_CACHE_MAX_SIZE` (default 2 GiB; an unparsable value warns and keeps the default),
    /// `KILN_CACHE_SECRET`, and the remote level's `KILN_REMOTE_*` ([`RemoteConfig::from_vars`]).
    pub fn from_env() -> CacheConfig {
        let mut config = CacheConfig::from_vars(|name| std::env::var(name).ok());
        // A path need not be UTF-8: read it as one, never fall back to the default for it.
        if let Some(dir) = dir_from_os(std::env::var_os("KILN_CACHE_DIR")) {
            config.dir = dir;
        }
        config
    }

    /// [`CacheConfig::from_env`] over any variable lookup (tests need no process environment).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> CacheConfig {
        let dir = var("KILN_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_dir);
        let max_size = match var("KILN_CACHE_MAX_SIZE").filter(|s| !s.trim().is_empty()) {
            None => DEFAULT_MAX_SIZE,
            Some(text) => parse_size(&text).unwrap_or_else(|e| {
                tracing::warn!("KILN_CACHE_MAX_SIZE ignored, using 2GiB: {e}");
                DEFAULT_MAX_SIZE
            }),
        };
        let secret = var("KILN_CACHE_SECRET")
            .filter(|s| !s.is_empty())
            .map(String::into_bytes);
        let remote = RemoteConfig::from_vars(&var);
        CacheConfig {
            dir,
            max_size,
            secret,
            remote,
        }
    }
}

/// `KILN_CACHE_DIR` as a path, whatever its bytes; `None` when unset or empty.
fn dir_from_os(value: Option<std::ffi::OsString>) -> Option<PathBuf> {
    value.filter(|d| !d.is_empty()).map(PathBuf::from)
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
        assert_eq!(dir_from_os(Some(raw.clone())), Some(PathBuf::from(raw)));
        assert_eq!(dir_from_os(Some(std::ffi::OsString::new())), None);
        assert_eq!(dir_from_os(None), None);
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
}
