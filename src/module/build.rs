//! Turning a module config into GStreamer elements inside a bin: the public Rust API
//! for apps (`build_bin`) and what `savantmodule` runs.

use std::cell::RefCell;
use std::path::Path;

use gst::prelude::*;

use super::config::{ConfigError, ElementPlan, ModuleConfig, Step};

/// How deep module configs may nest (a savantmodule element inside a module).
pub const MAX_NESTING: usize = 16;

/// A module config being built on this thread.
struct Building {
    /// What the chain in errors shows: the path or "(inline YAML)".
    shown: String,
    /// What makes two configs the same: the canonical path, or the YAML text.
    identity: String,
    /// The first error of a module config built inside this one.
    nested_error: Option<ConfigError>,
}

thread_local! {
    /// Module configs under construction, outermost first. A savantmodule entry is
    /// built (its `config` set) while the enclosing module is still being built, on
    /// the same thread, so a config that includes itself would recurse until the
    /// stack overflows.
    static BUILDING: RefCell<Vec<Building>> = const { RefCell::new(Vec::new()) };
}

/// One config on the BUILDING stack; leaves it when dropped.
pub(super) struct Nesting(());

impl Nesting {
    /// Enters `config`, or fails naming the chain when it is already being built
    /// (an include cycle) or when configs nest deeper than [`MAX_NESTING`].
    pub(super) fn enter(config: &str) -> Result<Self, ConfigError> {
        let (shown, identity) = identify(config);
        BUILDING.with_borrow_mut(|stack| {
            let cycle = stack.iter().any(|b| b.identity == identity);
            if cycle || stack.len() >= MAX_NESTING {
                let chain: Vec<&str> = stack
                    .iter()
                    .map(|b| b.shown.as_str())
                    .chain([shown.as_str()])
                    .collect();
                return Err(ConfigError {
                    path: String::new(),
                    message: if cycle {
                        format!("module config includes itself: {}", chain.join(" -> "))
                    } else {
                        format!(
                            "module configs nest deeper than {MAX_NESTING}: {}",
                            chain.join(" -> ")
                        )
                    },
                });
            }
            stack.push(Building {
                shown,
                identity,
                nested_error: None,
            });
            Ok(Self(()))
        })
    }

    /// Fails with the first error of a module config built inside this one: a nested
    /// savantmodule only stores its error, which would otherwise surface as late as
    /// its state change, far from the config that caused it.
    pub(super) fn check_nested(&self) -> Result<(), ConfigError> {
        BUILDING.with_borrow_mut(|stack| match stack.last_mut() {
            Some(building) => building.nested_error.take().map_or(Ok(()), Err),
            None => Ok(()),
        })
    }
}

impl Drop for Nesting {
    fn drop(&mut self) {
        BUILDING.with_borrow_mut(|stack| stack.pop());
    }
}

/// Hands a savantmodule's config error to the module config being built around it,
/// if any (call after the failed build's own `Nesting` is gone).
pub(super) fn report_to_enclosing(error: &ConfigError) {
    BUILDING.with_borrow_mut(|stack| {
        if let Some(enclosing) = stack.last_mut() {
            enclosing.nested_error.get_or_insert_with(|| error.clone());
        }
    });
}

fn identify(config: &str) -> (String, String) {
    if ModuleConfig::looks_like_path(config) {
        let identity = std::fs::canonicalize(config)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| config.to_owned());
        let shown = Path::new(config)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| config.to_owned());
        (shown, identity)
    } else {
        ("(inline YAML)".to_owned(), config.to_owned())
    }
}

/// Loads `config` and builds it into `bin` (elements, links, ghost pads), failing on
/// include cycles and on errors of nested module configs.
/// Builds `bin` from `config`; returns the Savant settings it read but does not
/// apply (`ModuleConfig::ignored`).
pub(super) fn build_into(bin: &gst::Bin, config: &str) -> Result<Vec<&'static str>, ConfigError> {
    let nesting = Nesting::enter(config)?;
    let module = ModuleConfig::load(config)?;
    let (first, last) = populate(bin, &module)?;
    nesting.check_nested()?;
    add_ghost_pads(bin, &first, &last)?;
    Ok(module.ignored)
}

/// Builds a bin with `sink` and `src` ghost pads from a module config (a YAML file
/// path or YAML text). Needs the savant plugin registered (it makes savantqueue and
/// savantpyfunc elements).
///
/// ```no_run
/// gst::init().unwrap();
/// gstsavant::plugin_register_static().unwrap();
/// let bin = gstsavant::module::build_bin("module.yml").unwrap();
/// ```
///
/// # Errors
///
/// A config that cannot be read or does not check out, or an element it names that
/// cannot be made or linked, naming the YAML path.
pub fn build_bin(config: &str) -> Result<gst::Bin, ConfigError> {
    let nesting = Nesting::enter(config)?;
    let module = ModuleConfig::load(config)?;
    let mut builder = gst::Bin::builder();
    if let Some(name) = &module.name {
        builder = builder.name(name.as_str());
    }
    let bin = builder.build();
    let (first, last) = populate(&bin, &module)?;
    nesting.check_nested()?;
    add_ghost_pads(&bin, &first, &last)?;
    Ok(bin)
}

/// Adds the config's elements and queues to `bin`, linked in order; returns the
/// first and last element.
pub(crate) fn populate(
    bin: &gst::Bin,
    config: &ModuleConfig,
) -> Result<(gst::Element, gst::Element), ConfigError> {
    crate::stage::module_parameters::attach(bin, config.parameters.clone());
    let mut elements: Vec<(gst::Element, String)> = Vec::new();
    let mut queue_index = 0;
    for step in config.steps() {
        let (element, path) = match step {
            Step::Queue(spec) => {
                let path = "parameters.buffer_queues".to_owned();
                let queue = make("savantqueue", Some(&format!("queue{queue_index}")), &path)?;
                queue_index += 1;
                queue.set_property("length", spec.length);
                queue.set_property("byte-size", spec.byte_size);
                (queue, path)
            }
            Step::Element(plan) => {
                let element = make_element(&plan)?;
                if let Some(reframe) = plan.reframe {
                    super::reframe::follow(&element, reframe);
                }
                (element, plan.path)
            }
        };
        bin.add(&element).map_err(|e| ConfigError {
            path: path.clone(),
            message: format!("cannot add {}: {e}", element.name()),
        })?;
        if let Some((previous, _)) = elements.last() {
            previous.link(&element).map_err(|_| ConfigError {
                path: path.clone(),
                message: format!(
                    "cannot link {} to {} (incompatible pads or caps)",
                    previous.name(),
                    element.name()
                ),
            })?;
        }
        elements.push((element, path));
    }
    let first = elements.first().map(|(e, _)| e.clone());
    let last = elements.last().map(|(e, _)| e.clone());
    match (first, last) {
        (Some(first), Some(last)) => Ok((first, last)),
        _ => Err(ConfigError {
            path: "pipeline.elements".into(),
            message: "is empty".into(),
        }),
    }
}

/// Points `bin`'s ghost pads (made here, or already there) at the chain's ends.
pub(crate) fn add_ghost_pads(
    bin: &gst::Bin,
    first: &gst::Element,
    last: &gst::Element,
) -> Result<(), ConfigError> {
    for (direction, element, name) in [("sink", first, "first"), ("src", last, "last")] {
        let target = element.static_pad(direction).ok_or_else(|| ConfigError {
            path: "pipeline.elements".into(),
            message: format!(
                "the {name} element ({}) has no always-present {direction} pad",
                element.name()
            ),
        })?;
        let ghost = match bin.static_pad(direction) {
            Some(pad) => pad.downcast::<gst::GhostPad>().map_err(|_| ConfigError {
                path: String::new(),
                message: format!("the bin's {direction} pad is not a ghost pad"),
            })?,
            None => {
                let pad = gst::GhostPad::builder(if direction == "sink" {
                    gst::PadDirection::Sink
                } else {
                    gst::PadDirection::Src
                })
                .name(direction)
                .build();
                bin.add_pad(&pad).map_err(|e| ConfigError {
                    path: String::new(),
                    message: e.to_string(),
                })?;
                pad
            }
        };
        ghost.set_target(Some(&target)).map_err(|e| ConfigError {
            path: "pipeline.elements".into(),
            message: format!("cannot expose {}'s {direction} pad: {e}", element.name()),
        })?;
    }
    Ok(())
}

fn make(factory: &str, name: Option<&str>, path: &str) -> Result<gst::Element, ConfigError> {
    let mut builder = gst::ElementFactory::make(factory);
    if let Some(name) = name {
        builder = builder.name(name);
    }
    builder.build().map_err(|_| ConfigError {
        path: format!("{path}.element"),
        message: format!(
            "no GStreamer element '{factory}' (is its plugin installed and registered?)"
        ),
    })
}

fn make_element(plan: &ElementPlan) -> Result<gst::Element, ConfigError> {
    let element = make(&plan.factory, plan.name.as_deref(), &plan.path)?;
    for (property, text) in &plan.properties {
        let path = format!("{}.{property}", plan.path);
        let pspec = element.find_property(property).ok_or_else(|| ConfigError {
            path: path.clone(),
            message: format!("{} has no property '{property}'", plan.factory),
        })?;
        if !pspec.flags().contains(gst::glib::ParamFlags::WRITABLE) {
            return Err(ConfigError {
                path,
                message: format!("property '{property}' of {} is read-only", plan.factory),
            });
        }
        let value =
            gst::glib::Value::deserialize_with_pspec(text, &pspec).map_err(|_| ConfigError {
                path: path.clone(),
                message: format!(
                    "cannot use {text:?} for '{property}' ({})",
                    pspec.value_type().name()
                ),
            })?;
        element.set_property_from_value(property, &value);
    }
    Ok(element)
}
