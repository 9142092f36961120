//! `kiln cache stats|list|clear|prune|verify|export|import`.
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use kiln_cache::{Cache, CacheConfig};
use serde_json::json;

use crate::common::{human_bytes, open_cache, short};
use crate::error::{CliError, CliResult};
use crate::progress::with_spinner;

/// `n entries`, or `1 entry`.
pub fn entries(n: u64) -> String {
    counted(n, "entry", "entries")
}

/// `n things`, or `1 thing`.
fn counted(n: u64, one: &str, many: &str) -> String {
    match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// The cache directory a command addresses (`--cache-dir`, else `KILN_CACHE_DIR`, else the
/// default), when it exists. Commands that only look (stats, explain) must not create it: a
/// mistyped directory would otherwise be created and reported as an empty cache.
pub fn open_existing(cache_dir: Option<&PathBuf>) -> CliResult<Result<Cache, PathBuf>> {
    let dir = cache_dir
        .cloned()
        .unwrap_or_else(|| CacheConfig::from_env().dir);
    // Only a missing path is "does not exist": a file where a directory should be (ENOTDIR)
    // or an unreadable parent is reported by opening, which names the component.
    if let Err(e) = std::fs::symlink_metadata(&dir)
        && e.kind() == std::io::ErrorKind::NotFound
    {
        return Ok(Err(dir));
    }
    open_cache(Some(&dir)).map(Ok)
}

/// The line a looking command prints for a cache directory that does not exist.
pub fn missing_dir_line(dir: &Path) -> String {
    format!(
        "cache {} does not exist (nothing has been cached there; check --cache-dir or \
         KILN_CACHE_DIR)",
        dir.display()
    )
}

pub fn stats_of(cache_dir: Option<&PathBuf>, as_json: bool) -> CliResult<()> {
    match open_existing(cache_dir)? {
        Ok(cache) => stats(&cache, as_json),
        Err(dir) if as_json => {
            println!("{}", json!({"dir": dir, "exists": false}));
            Ok(())
        }
        Err(dir) => {
            println!("{}", missing_dir_line(&dir));
            Ok(())
        }
    }
}

pub fn stats(cache: &Cache, as_json: bool) -> CliResult<()> {
    let stats = cache.stats()?;
    let lifetime = cache.lifetime_counters()?;
    if as_json {
        let backends: serde_json::Map<String, serde_json::Value> = stats
            .per_backend
            .iter()
            .map(|(name, b)| {
                (
                    name.clone(),
                    json!({"entries": b.entries, "bytes": b.bytes}),
                )
            })
            .collect();
        let counters: serde_json::Map<String, serde_json::Value> = lifetime
            .named()
            .into_iter()
            .map(|(name, v)| (name.to_string(), json!(v)))
            .collect();
        let obj = json!({
            "dir": cache.dir(),
            "exists": true,
            "entries": stats.entries,
            "keys": stats.keys,
            "bytes": stats.bytes,
            "max_size": stats.max_size,
            "unreadable": stats.unreadable,
            "backends": backends,
            "lifetime": counters,
        });
        println!("{obj}");
        return Ok(());
    }
    println!("cache {}", cache.dir().display());
    println!(
        "  {} under {}, {} of {} max",
        entries(stats.entries),
        counted(stats.keys, "key", "keys"),
        human_bytes(stats.bytes),
        human_bytes(stats.max_size)
    );
    for (name, b) in &stats.per_backend {
        println!("  {name}: {}, {}", entries(b.entries), human_bytes(b.bytes));
    }
    if stats.unreadable > 0 {
        println!("  {} with unreadable headers", entries(stats.unreadable));
    }
    let counts: Vec<String> = lifetime
        .named()
        .into_iter()
        .map(|(name, v)| format!("{name} {v}"))
        .collect();
    println!("  lifetime: {}", counts.join(", "));
    Ok(())
}

pub fn list(cache: &Cache, as_json: bool) -> CliResult<()> {
    let entries = with_spinner("reading entries", || cache.list())?;
    let unix_ms = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    };
    if as_json {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                json!({
                    "key": e.key.to_string(),
                    "hash": e.hash,
                    "size": e.size,
                    "last_use_unix_ms": unix_ms(e.last_use),
                    "backend": e.header.as_ref().map(|h| h.backend.clone()),
                    "target": e.header.as_ref().map(|h| h.target.clone()),
                    "kiln_version": e.header.as_ref().map(|h| h.kiln_version.clone()),
                    "graph": e.graph_name,
                    "created_unix_ms": e.created_unix_ms,
                    "guards": e.guards.as_ref().map(|g| g.to_string()),
                    "problem": e.problem,
                })
            })
            .collect();
        println!("{}", json!(items));
        return Ok(());
    }
    if entries.is_empty() {
        println!("cache {} is empty", cache.dir().display());
        return Ok(());
    }
    println!(
        "{:<13} {:<13} {:>10}  {:<7} {:<16} guards",
        "key", "entry", "size", "backend", "graph"
    );
    for e in &entries {
        let key = e.key.to_string();
        let backend = e.header.as_ref().map_or("?", |h| h.backend.as_str());
        let graph = e.graph_name.as_deref().unwrap_or("?");
        let guards = match (&e.guards, &e.problem) {
            (_, Some(problem)) => format!("unreadable: {problem}"),
            (Some(g), None) => g.to_string(),
            (None, None) => "?".into(),
        };
        println!(
            "{:<13} {:<13} {:>10}  {:<7} {:<16} {guards}",
            format!("{}…", short(&key)),
            format!("{}…", short(&e.hash)),
            human_bytes(e.size),
            backend,
            graph
        );
    }
    println!("{}", self::entries(entries.len() as u64));
    Ok(())
}

pub fn clear(cache: &Cache) -> CliResult<()> {
    let before = cache.stats()?;
    with_spinner("clearing", || cache.clear())?;
    println!(
        "removed {} ({}) from {}",
        entries(before.entries),
        human_bytes(before.bytes),
        cache.dir().display()
    );
    Ok(())
}

pub fn prune(cache: &Cache, max_size: Option<&str>) -> CliResult<()> {
    let limit = match max_size {
        Some(text) => {
            kiln_cache::parse_size(text).map_err(|e| CliError::Usage(format!("--max-size: {e}")))?
        }
        None => cache.stats()?.max_size,
    };
    let report = with_spinner("pruning", || cache.prune(limit))?;
    println!(
        "pruned to {}: removed {} ({}); {}, {} remain",
        human_bytes(limit),
        entries(report.removed_entries),
        human_bytes(report.removed_bytes),
        entries(report.remaining_entries),
        human_bytes(report.remaining_bytes)
    );
    Ok(())
}

pub fn verify(cache: &Cache) -> CliResult<()> {
    let report = with_spinner("verifying entries", || cache.verify())?;
    println!(
        "checked {}: {} ok, {} removed",
        entries(report.checked),
        report.ok,
        report.removed.len()
    );
    for bad in &report.removed {
        let key = bad.key.map(|k| k.to_string()).unwrap_or_default();
        println!(
            "  removed {}… under key {}…: {}",
            short(&bad.hash),
            short(&key),
            bad.reason
        );
    }
    Ok(())
}

pub fn export(cache: &Cache, file: &Path) -> CliResult<()> {
    let count = with_spinner("exporting", || cache.export(file))?;
    println!("exported {} to {}", entries(count as u64), file.display());
    Ok(())
}

pub fn import(cache: &Cache, file: &Path) -> CliResult<()> {
    let report = with_spinner("importing", || cache.import(file))?;
    println!(
        "imported {} into {} ({} already present, {} too large, {} rejected)",
        entries(report.imported),
        cache.dir().display(),
        report.already_present,
        report.too_large,
        report.rejected.len()
    );
    for bad in &report.rejected {
        println!("  rejected {}…: {}", short(&bad.hash), bad.reason);
    }
    Ok(())
}
