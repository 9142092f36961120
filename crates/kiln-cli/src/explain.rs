//! `kiln cache explain`: what a compile with these shapes would find in the cache, and why.
use kiln::{Compiler, Explanation};
use serde_json::json;

use crate::cli::{DynamicArg, ExplainArgs};
use crate::common::{compile_options, dims_text, load_graph, shapes_from_flags, short};
use crate::error::CliResult;

pub fn explain(args: ExplainArgs, cache_dir: Option<&std::path::PathBuf>) -> CliResult<()> {
    let graph = load_graph(&args.graph)?;
    let shapes = shapes_from_flags(&graph, &args.shapes)?;
    let cache = match crate::cache_admin::open_existing(cache_dir)? {
        Ok(cache) => cache,
        Err(dir) if args.json => {
            println!(
                "{}",
                json!({"dir": dir, "exists": false, "graph": graph.name})
            );
            return Ok(());
        }
        Err(dir) => {
            println!(
                "{}; a compile would miss",
                crate::cache_admin::missing_dir_line(&dir)
            );
            return Ok(());
        }
    };
    // The key does not depend on where the cache is: explain against the one opened above.
    let compiler = Compiler::new(compile_options(&args.flags, None, true));
    let f = compiler.compile(&graph)?;
    let policy = crate::common::policy(args.flags.dynamic);
    let ex = f.explain(&cache, &shapes, policy)?;
    if args.json {
        let mut obj = json!(ex);
        obj["graph"] = json!(graph.name);
        obj["shapes"] = json!(shapes);
        println!("{obj}");
        return Ok(());
    }
    let inputs: Vec<String> = graph
        .inputs()
        .iter()
        .zip(&shapes)
        .map(|(d, s)| format!("{}={}", d.name, dims_text(s)))
        .collect();
    let bindings: Vec<String> = ex
        .bindings
        .iter()
        .map(|(s, v)| format!("{s}={v}"))
        .collect();
    println!(
        "graph `{}` with {}{}, {} shapes",
        graph.name,
        inputs.join(" "),
        if bindings.is_empty() {
            String::new()
        } else {
            format!(" ({})", bindings.join(", "))
        },
        match args.flags.dynamic {
            DynamicArg::Static => "static",
            DynamicArg::Dynamic => "dynamic",
            DynamicArg::Auto => "auto (explained as dynamic)",
        }
    );
    println!("key {}", ex.key);
    let width = ex
        .components
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    for c in &ex.components {
        println!("  {:<width$}  {}…  {}", c.name, short(&c.hash), c.value);
    }
    println!("{}", verdict(&ex));
    Ok(())
}

/// The verdict line and its reasons, e.g.
/// "guard_miss: key 1a2b… exists with 2 entries, none fits: entry 1 needs `H == 8` but H = 9".
fn verdict(ex: &Explanation) -> String {
    let key = format!("{}…", short(&ex.key));
    let count = |n: usize| format!("{n} {}", if n == 1 { "entry" } else { "entries" });
    if ex.key_exists {
        let mut out = match ex.verdict.as_str() {
            "hit" => format!("hit: key {key} exists with {}", count(ex.entries.len())),
            _ => format!(
                "guard_miss: key {key} exists with {}, but no entry's guards hold for these shapes",
                count(ex.entries.len())
            ),
        };
        for (i, e) in ex.entries.iter().enumerate() {
            let needs = format!("entry {} needs `{}`", i + 1, e.guards);
            let line = match &e.failure {
                None => format!("{needs}: holds (compiled in {:.1} ms)", e.compile_ms),
                Some(failure) => format!("{needs} but {}", failing_values(failure, &e.guards, ex)),
            };
            out.push_str("\n  ");
            out.push_str(&line);
        }
        return out;
    }
    let mut out = format!("miss: key {key} is not in the cache");
    match &ex.nearest {
        None => out.push_str(&format!(
            "\n  no stored key belongs to a graph named `{}`",
            graph_name(ex)
        )),
        Some(near) => {
            out.push_str(&format!(
                "\n  nearest stored key for the same graph name: {}…, which differs in {}:",
                short(&near.key),
                near.differing
                    .iter()
                    .map(|(name, _, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            for (name, ours, stored) in &near.differing {
                out.push_str(&format!(
                    "\n    {name}:\n      now:    {ours}\n      stored: {stored}"
                ));
            }
        }
    }
    out
}

fn graph_name(ex: &Explanation) -> String {
    ex.components
        .iter()
        .find(|c| c.name == "graph")
        .and_then(|c| c.value.strip_prefix("graph "))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

/// "`H == 8` fails: H = 9" (just "H = 9" when that is the only guard) from the driver's "H == 8 fails: left side is 9, right side is 8",
/// naming the symbols of the failing condition with their values.
fn failing_values(failure: &str, guards: &str, ex: &Explanation) -> String {
    let Some((cond, _)) = failure.split_once(" fails: ") else {
        return failure.to_string();
    };
    let words: Vec<&str> = cond
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let values: Vec<String> = ex
        .bindings
        .iter()
        .filter(|(s, _)| words.contains(&s.as_str()))
        .map(|(s, v)| format!("{s} = {v}"))
        .collect();
    match (values.is_empty(), cond == guards) {
        (true, _) => format!("`{cond}` fails ({failure})"),
        (false, true) => values.join(", "),
        (false, false) => format!("`{cond}` fails: {}", values.join(", ")),
    }
}
