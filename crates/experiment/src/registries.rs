//! The methods a run can name: the debiasing methods (`biaslens_debias::Registry`) and the
//! attribution methods ([`crate::attributions::AttributionRegistry`]). The page's method list,
//! the config's validation, the memory check and the runner all read these, never lists of
//! their own; a test (or a host) can add methods of its own.

use biaslens_debias::Registry;

use crate::attributions::AttributionRegistry;

/// The debiasing and attribution methods available to a run.
#[derive(Debug, Clone)]
pub struct Registries {
    /// Debiasing methods, by JSON tag.
    pub methods: Registry,
    /// Attribution methods, by id.
    pub attributions: AttributionRegistry,
}

impl Default for Registries {
    /// The built-in methods.
    fn default() -> Self {
        Self { methods: Registry::builtin().clone(), attributions: AttributionRegistry::builtin().clone() }
    }
}

impl Registries {
    /// The built-in methods (shared, not cloned).
    pub fn builtin() -> &'static Self {
        static BUILTIN: std::sync::OnceLock<Registries> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(Self::default)
    }
}
