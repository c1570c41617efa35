//! Imports run one way only: each top-level module of the crate names (`crate::x`)
//! only modules of a lower layer, and the elements never name each other. The
//! layers are drawn in the README's Layout section.

use std::collections::BTreeSet;
use std::path::Path;

/// Top-level modules by layer, lowest first.
const LAYERS: &[&[&str]] = &[
    // Embedding Python, YAML, CUDA's driver API: no imports from the crate.
    &["python", "yaml", "cuda"],
    // The Python API types, in their own order.
    &["frame"],
    &["draw"],
    &["api"],
    // The machinery every stage shares.
    &["stage"],
    // The macros of the elements' ElementImpl (they name stage::lifecycle).
    &["element_impl"],
    // The elements.
    &[
        "pyfunc", "drawfunc", "queue", "module", "mux", "demux", "metrics", "publish",
    ],
    // Entry points for cargo-fuzz (feature `fuzzing`): they reach into any layer,
    // and nothing reaches into them.
    &["fuzzing"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// `crate::x` names in the code of `text` (comment lines left out).
fn crate_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.insert(name);
            }
            rest = after;
        }
    }
    names
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_or_beside_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs");
        if module == "lib" {
            // The crate root registers every element: it is above them all.
            continue;
        }
        let layer = layer_of(module)
            .unwrap_or_else(|| panic!("{module} (src/{}) is in no layer", relative.display()));
        let text = std::fs::read_to_string(file).unwrap();
        for name in crate_names(&text) {
            checked += 1;
            if name == module {
                continue;
            }
            match layer_of(&name) {
                Some(other) if other < layer => {}
                _ => wrong.push(format!("src/{} names crate::{name}", relative.display())),
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} crate paths found: the scan is broken"
    );
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_scan_sees_an_import_against_the_layers() {
    let names = crate_names(
        "use crate::pyfunc::OnError; // crate::queue\nlet x = crate::stage::call::run;",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec!["pyfunc".to_owned(), "stage".to_owned()]
    );
    assert!(layer_of("pyfunc") > layer_of("stage"));
}
