//! Version info for `plugin_define!`, and the facts about the Python the plugin is
//! built against that the embedded interpreter needs at run time (its home, its
//! executable, and the soname to promote into the global symbol scope).
use std::process::Command;

fn main() {
    gst_plugin_version_helper::info();
    // cfg(Py_3_12), cfg(Py_3_13), ... for the interpreter PyO3 builds against.
    pyo3_build_config::use_pyo3_cfgs();

    // Building for a Python that is not on this machine (scripts/gpu-bundle.sh, with
    // PYO3_CONFIG_FILE): its facts come from these variables instead.
    for name in ["HOME", "EXECUTABLE", "SONAME", "VERSION"] {
        println!("cargo:rerun-if-env-changed=SAVANT_TARGET_PYTHON_{name}");
    }
    if let Ok(version) = std::env::var("SAVANT_TARGET_PYTHON_VERSION") {
        let var = |name: &str| {
            std::env::var(format!("SAVANT_TARGET_PYTHON_{name}"))
                .unwrap_or_else(|_| panic!("SAVANT_TARGET_PYTHON_{name} is needed with _VERSION"))
        };
        println!("cargo:rustc-env=SAVANT_PYTHON_HOME={}", var("HOME"));
        println!(
            "cargo:rustc-env=SAVANT_PYTHON_EXECUTABLE={}",
            var("EXECUTABLE")
        );
        println!("cargo:rustc-env=SAVANT_PYTHON_SONAME={}", var("SONAME"));
        println!("cargo:rustc-env=SAVANT_PYTHON_VERSION={version}");
        return;
    }

    let python = std::env::var("PYO3_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    let script = "import sys, sysconfig\n\
                  print(sys.base_prefix)\n\
                  print(sys.executable)\n\
                  print(sysconfig.get_config_var('INSTSONAME') or sysconfig.get_config_var('LDLIBRARY') or '')\n\
                  print('%d.%d' % sys.version_info[:2])";
    let out = Command::new(&python)
        .args(["-c", script])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python} to read its build config: {e}"));
    assert!(
        out.status.success(),
        "{python} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("python printed non-UTF-8");
    let mut lines = text.lines();
    let mut next = || lines.next().unwrap_or_default().trim().to_owned();
    println!("cargo:rustc-env=SAVANT_PYTHON_HOME={}", next());
    println!("cargo:rustc-env=SAVANT_PYTHON_EXECUTABLE={}", next());
    println!("cargo:rustc-env=SAVANT_PYTHON_SONAME={}", next());
    println!("cargo:rustc-env=SAVANT_PYTHON_VERSION={}", next());
}
